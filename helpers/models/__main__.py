"""``python -m helpers.models``: download the pretrained ImageNet weights once (when online)."""

import sys

from helpers.models.imagenet import main

sys.exit(main())
