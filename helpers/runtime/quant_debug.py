"""Where a quantized model's error comes from: the per-tensor errors of ONNX Runtime's
``qdq_loss_debug`` as a table in graph order, with the decibels each node loses."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from helpers.graph.checks import load_model

SQNR_COLUMNS = ("tensor", "producer", "op", "SQNR dB", "dB lost here")


def sqnr_table(errors: Mapping[str, Mapping[str, float]], float_model: str | Path):
    """A DataFrame of ``qdq_loss_debug.compute_activation_error``'s result, one row per tensor
    of ``float_model`` (the file that was quantized), in graph order (input → output).

    ``SQNR dB`` is ``xmodel_err``: the quantized model's tensor against the float model's,
    error accumulated up to that tensor (higher is better). ``dB lost here`` is how much the
    SQNR fell from the previous tensor in graph order; ``producer`` and ``op`` name the node
    that wrote the tensor (the name ``nodes_to_exclude`` takes). Tensors without a figure
    (graph inputs, tensors the quantized model does not have) are left out.
    """
    import pandas as pd

    path = Path(float_model)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {path.name}")
    nodes = load_model(path).graph.node
    producer = {out: (index, node) for index, node in enumerate(nodes) for out in node.output}
    rows = [{"tensor": name, "producer": producer[name][1].name, "op": producer[name][1].op_type,
             "SQNR dB": float(error["xmodel_err"]), "position": producer[name][0]}
            for name, error in errors.items()
            if name in producer and error.get("xmodel_err") is not None]
    if not rows:
        raise ValueError(f"none of the {len(errors)} tensors with errors is produced by a node "
                         f"of {path.name}; pass the float model that was quantized")
    table = pd.DataFrame(rows).sort_values("position", kind="stable").reset_index(drop=True)
    table["dB lost here"] = (table["SQNR dB"].shift(1) - table["SQNR dB"]).fillna(0.0)
    return table[list(SQNR_COLUMNS)]
