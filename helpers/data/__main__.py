"""``python -m helpers.data``: gather the offline sample photos and digits."""

from helpers.data.datasets import main

main()
