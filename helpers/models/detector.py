"""A small one-stage digit detector: the network, training, box decoding, NMS and mAP.

The network sees a grey canvas ``[N, 1, 128, 128]`` and predicts, for each cell of a
16x16 grid (stride 8), an objectness logit, 10 class logits and the distances from the
cell's centre to the four sides of a box (FCOS-like). Several cells fire for one digit,
so non-maximum suppression (NMS) per class picks one box each. :class:`DetectorWithNMS`
puts decoding, the score threshold and NMS inside one exportable module. Notebook 14 writes
``decode``, ``per_class_nms`` and the wrapper out in its cells (the lesson) and checks that they
equal these, which ``threshold_margins``, the exercise's solution and the tests use. Figures
are in ``helpers.show.detection``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn

from helpers.data.detection import CANVAS_SIZE, NUM_CLASSES, CanvasSet

STRIDE = 8
GRID = CANVAS_SIZE // STRIDE


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class DigitDetector(nn.Module):
    """A 4x4 stride-4 stem, a 3x3 stride-2 convolution, three 3x3 convolutions and a 1x1 head.

    Output ``[N, 15, H/8, W/8]`` raw values per cell: 0 objectness logit, 1..10 class
    logits, 11..14 log of the (left, top, right, bottom) distances in units of the stride.
    """

    def __init__(self, width: int = 48) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 4, 4), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            _block(16, width, 2), _block(width, width, 1), _block(width, width, 1),
            _block(width, width, 1))
        self.head = nn.Conv2d(width, 1 + NUM_CLASSES + 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def cell_centres(grid: int = GRID, stride: int = STRIDE) -> torch.Tensor:
    """``[grid*grid, 2]`` (x, y) centres of the cells in pixels, row by row."""
    ys, xs = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    return (torch.stack([xs, ys], -1).reshape(-1, 2).float() + 0.5) * stride


def decode(raw: torch.Tensor, stride: int = STRIDE) -> tuple[torch.Tensor, torch.Tensor,
                                                             torch.Tensor]:
    """Raw ``[N, 15, G, G]`` → boxes ``[N, G*G, 4]`` (x1, y1, x2, y2, clipped to the image),
    scores and classes ``[N, G*G]``.

    score = sigmoid(objectness) x the largest class probability; class = its index.
    """
    n, _, gh, gw = raw.shape
    flat = raw.flatten(2).transpose(1, 2)  # [N, G*G, 15]
    centres = cell_centres(gh, stride).to(raw.dtype)
    distances = torch.exp(flat[..., 11:15].clamp(max=6.0)) * stride
    boxes = torch.cat([centres - distances[..., :2], centres + distances[..., 2:]], -1)
    size = torch.tensor([gw, gh, gw, gh], dtype=raw.dtype) * stride
    boxes = torch.minimum(boxes.clamp(min=0.0), size)  # clipped to the image
    probabilities, classes = torch.softmax(flat[..., 1:11], -1).max(-1)
    return boxes, torch.sigmoid(flat[..., 0]) * probabilities, classes


def to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 canvases ``[N, H, W]`` → float32 ``[N, 1, H, W]`` in [0, 1]."""
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"expected canvases of shape [N, H, W] uint8, got {images.shape} {images.dtype}")
    return torch.from_numpy(images).float().div(255.0).unsqueeze(1)


# ------------------------------------------------------------------ targets and loss


def make_targets(boxes: list[np.ndarray], labels: list[np.ndarray], grid: int = GRID,
                 stride: int = STRIDE) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per cell: positive mask ``[N, G*G]``, class ``[N, G*G]`` and log-distances ``[N, G*G, 4]``.

    A cell is positive for a digit when its centre lies in the middle half of the digit's
    box, or it holds the box centre: big digits get several positive cells.
    """
    centres = cell_centres(grid, stride).numpy()
    n = len(boxes)
    positive = np.zeros((n, grid * grid), bool)
    cls = np.zeros((n, grid * grid), np.int64)
    ltrb = np.zeros((n, grid * grid, 4), np.float32)
    for i, (canvas_boxes, canvas_labels) in enumerate(zip(boxes, labels, strict=True)):
        for box, label in zip(canvas_boxes, canvas_labels, strict=True):
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            w, h = box[2] - box[0], box[3] - box[1]
            inside = (np.abs(centres[:, 0] - cx) <= w / 4) & (np.abs(centres[:, 1] - cy) <= h / 4)
            inside[int(cy // stride) * grid + int(cx // stride)] = True
            dist = np.stack([centres[:, 0] - box[0], centres[:, 1] - box[1],
                             box[2] - centres[:, 0], box[3] - centres[:, 1]], -1)
            inside &= (dist > 0).all(-1)
            positive[i, inside] = True
            cls[i, inside] = label
            ltrb[i, inside] = np.log(dist[inside] / stride)
    return torch.from_numpy(positive), torch.from_numpy(cls), torch.from_numpy(ltrb)


def detection_loss(raw: torch.Tensor, positive: torch.Tensor, cls: torch.Tensor,
                   ltrb: torch.Tensor) -> torch.Tensor:
    """Objectness BCE on every cell, class cross-entropy and L1 on log-distances on positives."""
    flat = raw.flatten(2).transpose(1, 2)
    objectness = nn.functional.binary_cross_entropy_with_logits(
        flat[..., 0], positive.float(), pos_weight=torch.tensor(4.0))
    if not positive.any():
        return objectness
    classes = nn.functional.cross_entropy(flat[..., 1:11][positive], cls[positive])
    distances = nn.functional.l1_loss(flat[..., 11:15][positive], ltrb[positive])
    return objectness + classes + distances


# ------------------------------------------------------------------ training


@dataclass(frozen=True)
class DetTrainConfig:
    """Everything that decides the trained weights (also the cache key)."""

    canvases: int = 1500
    epochs: int = 8
    batch_size: int = 32
    lr: float = 4e-3
    width: int = 48
    seed: int = 0

    def tag(self) -> str:
        return (f"n{self.canvases}_e{self.epochs}_b{self.batch_size}_lr{self.lr:g}_"
                f"w{self.width}_s{self.seed}")


@dataclass
class TrainedDetector:
    """The trained detector (eval mode) and how it was trained."""

    model: DigitDetector
    config: DetTrainConfig
    seconds: float
    losses: list[float]
    checkpoint: Path | None = None


def default_det_config() -> DetTrainConfig:
    """Full run: 1,500 canvases x 8 epochs; quick mode: 600 canvases x 4 epochs, same path."""
    from helpers.models.training import for_mode

    return for_mode(quick=DetTrainConfig(canvases=600, epochs=4), full=DetTrainConfig())


def train_detector(data: CanvasSet, config: DetTrainConfig, progress: bool = True) -> TrainedDetector:
    """Train from scratch: AdamW, one-cycle learning rate, random horizontal shifts off."""
    from helpers import progress_bar

    torch.manual_seed(config.seed)
    x = to_input(data.images)
    positive, cls, ltrb = make_targets(data.boxes, data.labels)
    model = DigitDetector(config.width)
    steps_per_epoch = (len(x) + config.batch_size - 1) // config.batch_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.2)
    generator = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    model.train()
    start = time.perf_counter()
    bar = progress_bar(total=config.epochs * steps_per_epoch, desc="training the digit detector",
                       disable=not progress, leave=False, mininterval=2.0)
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=generator)
        for i in range(steps_per_epoch):
            batch = order[i * config.batch_size:(i + 1) * config.batch_size]
            loss = detection_loss(model(x[batch]), positive[batch], cls[batch], ltrb[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            bar.update(1)
    bar.close()
    return TrainedDetector(model.eval(), config, time.perf_counter() - start, losses)


def load_or_train_detector(config: DetTrainConfig | None = None, folder: Path | None = None,
                           retrain: bool = False, progress: bool = True) -> TrainedDetector:
    """Train once per config on cached training canvases; cache the weights (artifacts/models)."""
    from helpers.data.detection import cached_canvases
    from helpers.models.training import Trained, load_or_train

    config = config or default_det_config()

    def train() -> Trained[DigitDetector]:
        data = cached_canvases(config.canvases, "train", config.seed)
        result = train_detector(data, config, progress=progress)
        return Trained(result.model, result.seconds, {"losses": result.losses})

    cached = load_or_train("digit_detector", config, lambda: DigitDetector(config.width), train,
                           folder, retrain)
    return TrainedDetector(cached.model, config, cached.seconds, list(cached.record["losses"]),
                           cached.checkpoint)


# ------------------------------------------------------------------ NMS inside the module


def per_class_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor,
                  iou_threshold: float) -> torch.Tensor:
    """Indices kept by NMS run separately per class, by decreasing score.

    The coordinate trick that ``batched_nms`` uses for small inputs, written out: shift each
    class's boxes by its own offset so boxes of different classes never overlap, then one
    ``torchvision.ops.nms`` (ONNX ``NonMaxSuppression``). It exports the same way for any
    number of boxes, unlike ``batched_nms`` (see the notebook).
    """
    largest = torch.cat([boxes.flatten(), boxes.new_zeros(1)]).max()  # 0 when there is no box
    offsets = classes.to(boxes.dtype) * (largest + 1.0)
    return torchvision.ops.nms(boxes + offsets[:, None], scores, iou_threshold)


class DetectorWithNMS(nn.Module):
    """One canvas in, final detections out: network, decoding, score threshold, per-class NMS.

    ``forward(image [1, 1, H, W] float32, score_threshold [] float32)`` returns boxes
    ``[K, 4]``, scores ``[K]`` and classes ``[K]`` (int64), K decided by the data. Scores
    must be strictly above the threshold (ONNX's ``NonMaxSuppression`` rule too). The IoU
    threshold is a float here; :func:`iou_threshold_as_input` makes it a graph input.
    """

    def __init__(self, model: nn.Module, iou_threshold: float = 0.5) -> None:
        super().__init__()
        self.model = model
        self.iou_threshold = float(iou_threshold)

    def forward(self, image: torch.Tensor, score_threshold: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        boxes, scores, classes = decode(self.model(image))
        boxes, scores, classes = boxes[0], scores[0], classes[0]
        above = torch.nonzero(scores > score_threshold).squeeze(1)
        boxes, scores, classes = boxes[above], scores[above], classes[above]
        keep = per_class_nms(boxes, scores, classes, self.iou_threshold)
        return boxes[keep], scores[keep], classes[keep]


def export_detector(wrapper: DetectorWithNMS, path: Path, dynamo: bool = True) -> Path:
    """Export ``wrapper`` to ONNX (inputs image, score_threshold; outputs boxes, scores,
    classes), then make the IoU threshold a graph input. Exporter chatter is hidden."""
    import contextlib
    import io
    import warnings

    example = (torch.zeros(1, 1, CANVAS_SIZE, CANVAS_SIZE), torch.tensor(0.05))
    options = {"dynamo": True, "external_data": False} if dynamo else {"dynamo": False,
                                                                      "opset_version": 17}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper.eval(), example, str(path), **options,
                          input_names=["image", "score_threshold"],
                          output_names=["boxes", "scores", "classes"])
    iou_threshold_as_input(Path(path))
    return Path(path)


def iou_threshold_as_input(path: Path, name: str = "iou_threshold") -> int:
    """Rewire every ``NonMaxSuppression`` of an ONNX file to read its IoU threshold from a new
    float32 graph input ``name`` of shape [1]; saves in place, returns the nodes rewired."""
    import onnx

    proto = onnx.load(str(path))
    nodes = [n for n in proto.graph.node if n.op_type == "NonMaxSuppression"]
    if not nodes:
        raise ValueError(f"{path.name} has no NonMaxSuppression node")
    for node in nodes:
        while len(node.input) < 4:
            node.input.append("")
        node.input[3] = name
    proto.graph.input.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [1]))
    used = {i for n in proto.graph.node for i in n.input} | {o.name for o in proto.graph.output}
    unused = [n for n in proto.graph.node if n.op_type == "Constant" and n.output[0] not in used]
    for node in unused:  # the constant threshold that the input replaces
        proto.graph.node.remove(node)
    for init in [i for i in proto.graph.initializer if i.name not in used]:
        proto.graph.initializer.remove(init)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return len(nodes)


# ------------------------------------------------------------------ evaluation


@dataclass
class Detections:
    """Kept detections of one canvas (numpy)."""

    boxes: np.ndarray  # [K, 4] float32
    scores: np.ndarray  # [K] float32
    classes: np.ndarray  # [K] int64


@torch.no_grad()
def detect_torch(wrapper: DetectorWithNMS, images: np.ndarray, score_threshold: float
                 ) -> list[Detections]:
    """Run the PyTorch wrapper canvas by canvas."""
    threshold = torch.tensor(score_threshold, dtype=torch.float32)
    x = to_input(images)
    return [Detections(*(t.numpy() for t in wrapper(x[i:i + 1], threshold)))
            for i in range(len(x))]


def detect_ort(session, images: np.ndarray, score_threshold: float, iou_threshold: float
               ) -> list[Detections]:
    """Run an exported :class:`DetectorWithNMS` (inputs image, score_threshold, iou_threshold)
    in ONNX Runtime canvas by canvas."""
    from helpers.runtime.sessions import run

    x = to_input(images).numpy()
    feeds = {"score_threshold": np.array(score_threshold, np.float32),
             "iou_threshold": np.array([iou_threshold], np.float32)}
    return [Detections(*run(session, {"image": x[i:i + 1], **feeds})) for i in range(len(x))]


def mean_average_precision(detections: list[Detections], truth: CanvasSet) -> dict[str, float]:
    """COCO-style mAP with torchmetrics (pycocotools backend): mAP@0.5 and mAP@0.5:0.95."""
    from torchmetrics.detection import MeanAveragePrecision

    if len(detections) != len(truth):
        raise ValueError(f"{len(detections)} detection lists for {len(truth)} canvases")
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")
    metric.update(
        [{"boxes": torch.from_numpy(d.boxes).float(), "scores": torch.from_numpy(d.scores).float(),
          "labels": torch.from_numpy(d.classes).long()} for d in detections],
        [{"boxes": torch.from_numpy(b), "labels": torch.from_numpy(lab)}
         for b, lab in zip(truth.boxes, truth.labels, strict=True)])
    result = metric.compute()
    return {"mAP@0.5": float(result["map_50"]), "mAP@0.5:0.95": float(result["map"])}


def same_detections(a: Detections, b: Detections, atol: float = 1e-4) -> bool:
    """Same number of boxes, same classes in the same order, boxes and scores within ``atol``."""
    return (len(a.scores) == len(b.scores) and np.array_equal(a.classes, b.classes)
            and np.allclose(a.boxes, b.boxes, atol=atol, rtol=0)
            and np.allclose(a.scores, b.scores, atol=atol, rtol=0))


@torch.no_grad()
def threshold_margins(model: nn.Module, image: np.ndarray, score_threshold: float,
                      iou_threshold: float) -> dict[str, float]:
    """How close one canvas comes to a tie, where float rounding may decide the outcome:

    - ``score``: min |score − score threshold| over all cells;
    - ``iou``: min |IoU − IoU threshold| over same-class pairs above the score threshold;
    - ``order``: min gap between two scores above the threshold (NMS visits boxes by score).

    Two engines may disagree on a canvas whose smallest margin is ~1e-6: a float tie, not a bug.
    """
    boxes, scores, classes = (t[0] for t in decode(model(to_input(image[None]))))
    above = scores > score_threshold
    boxes, classes, kept = boxes[above], classes[above], scores[above].sort().values
    iou = torchvision.ops.box_iou(boxes, boxes)
    pairs = (classes[:, None] == classes[None, :]) & ~torch.eye(len(boxes), dtype=torch.bool)
    return {"score": float((scores - score_threshold).abs().min()),
            "iou": float((iou[pairs] - iou_threshold).abs().min()) if pairs.any() else np.inf,
            "order": float(kept.diff().min()) if len(kept) > 1 else np.inf}
