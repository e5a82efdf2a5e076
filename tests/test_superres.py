"""Unit tests for helpers.models.superres: the network, colour handling, PSNR, data, training, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from helpers.models.superres import (
    UPSCALE,
    SRTrainConfig,
    SuperResolutionNet,
    bicubic_upscale,
    build_model,
    crop_to_multiple,
    downscale,
    load_or_train_superres,
    luma_splits,
    merge_ycrcb,
    psnr,
    random_crops,
    split_ycrcb,
    start_as_nearest,
    torch_upscale_luma,
    train_superres,
    training_pairs,
    upscale_rgb,
)

TINY = SRTrainConfig(steps=3, batch_size=2, crop=24, lr=1e-3, seed=0)


@pytest.fixture()
def rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (30, 45, 3), dtype=np.uint8)


@pytest.fixture()
def lumas() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.random((60, 75), dtype=np.float32), rng.random((48, 48), dtype=np.float32)]


def test_network_output_is_three_times_larger():
    model = SuperResolutionNet().eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, 10, 7))
    assert out.shape == (2, 1, 30, 21)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "3"])
def test_network_rejects_bad_upscale(bad):
    with pytest.raises(ValueError, match="upscale"):
        SuperResolutionNet(bad)


def test_start_as_nearest_without_residual_is_nearest_neighbour():
    torch.manual_seed(0)
    model = start_as_nearest(SuperResolutionNet(), residual_scale=0.0).eval()
    y = np.random.default_rng(2).random((9, 11), dtype=np.float32)
    expected = np.repeat(np.repeat(y, UPSCALE, 0), UPSCALE, 1)
    np.testing.assert_allclose(torch_upscale_luma(model)(y), expected, atol=1e-6)


def test_start_as_nearest_rejects_other_models():
    with pytest.raises(TypeError, match="SuperResolutionNet"):
        start_as_nearest(nn.Conv2d(1, 1, 3))


class LookAlike(nn.Module):
    """The tutorial's layers written elsewhere (as notebook 10 does), without its init."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 5, padding=2)
        self.conv2 = nn.Conv2d(64, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 32, 3, padding=1)
        self.conv4 = nn.Conv2d(32, UPSCALE**2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x))))))
        return nn.functional.pixel_shuffle(self.conv4(x), UPSCALE)


def test_start_as_nearest_takes_a_look_alike_and_its_weights_fit_the_course_class():
    torch.manual_seed(0)
    model = start_as_nearest(LookAlike(), residual_scale=0.0).eval()
    y = np.random.default_rng(4).random((6, 5), dtype=np.float32)
    np.testing.assert_allclose(torch_upscale_luma(model)(y),
                               np.repeat(np.repeat(y, UPSCALE, 0), UPSCALE, 1), atol=1e-6)
    course = SuperResolutionNet().eval()
    course.load_state_dict(model.state_dict())
    x = torch.rand(1, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(course(x), model(x))


def test_build_model_is_seeded_and_checks_init():
    a, b = build_model("tutorial", seed=3), build_model("tutorial", seed=3)
    assert torch.equal(a.conv1.weight, b.conv1.weight)
    with pytest.raises(ValueError, match="init"):
        build_model("xavier")


def test_ycrcb_round_trip(rgb):
    y, crcb = split_ycrcb(rgb)
    assert y.dtype == np.float32 and y.shape == rgb.shape[:2] and 0 <= y.min() <= y.max() <= 1
    assert crcb.shape == (*rgb.shape[:2], 2) and crcb.dtype == np.uint8
    back = merge_ycrcb(y, crcb)
    assert back.dtype == np.uint8
    assert np.abs(back.astype(int) - rgb).max() <= 3  # rounding in both conversions


@pytest.mark.parametrize("bad", [np.zeros((5, 5), np.uint8), np.zeros((5, 5, 3), np.float32),
                                 np.zeros((5, 5, 4), np.uint8), [[1, 2, 3]]])
def test_split_rejects_non_rgb(bad):
    with pytest.raises(ValueError, match=r"RGB image of shape \[H, W, 3\] uint8"):
        split_ycrcb(bad)


def test_merge_rejects_mismatched_inputs(rgb):
    y, crcb = split_ycrcb(rgb)
    with pytest.raises(ValueError, match="CrCb"):
        merge_ycrcb(y, crcb[1:])
    with pytest.raises(ValueError, match="luminance"):
        merge_ycrcb(y.astype(np.float64), crcb)


def test_crop_downscale_and_bicubic_shapes(rgb):
    assert crop_to_multiple(rgb).shape == (30, 45, 3)
    assert crop_to_multiple(rgb[:29, :44]).shape == (27, 42, 3)
    small = downscale(rgb)
    assert small.shape == (10, 15, 3) and small.dtype == np.uint8
    big = bicubic_upscale(small)
    assert big.shape == (30, 45, 3) and big.dtype == np.uint8
    y = np.full((4, 5), 0.99, np.float32)
    assert bicubic_upscale(y).max() <= 1.0


def test_crop_to_multiple_rejects_tiny_images():
    with pytest.raises(ValueError, match="smaller than the factor"):
        crop_to_multiple(np.zeros((2, 9), np.float32))


def test_psnr_values():
    reference = np.zeros((20, 20))
    assert psnr(reference, reference) == float("inf")
    estimate = np.full((20, 20), 0.1)
    assert psnr(estimate, reference) == pytest.approx(20.0)  # mse 0.01 → 20 dB
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(estimate, reference[:10])
    with pytest.raises(ValueError, match="border"):
        psnr(np.zeros((4, 4)), np.zeros((4, 4)), border=2)


def test_random_crops_are_seeded_and_checked(lumas):
    a = random_crops(lumas, 5, 24, np.random.default_rng(0))
    b = random_crops(lumas, 5, 24, np.random.default_rng(0))
    assert a.shape == (5, 24, 24) and np.array_equal(a, b)
    with pytest.raises(ValueError, match="at least 100x100"):
        random_crops(lumas, 1, 100, np.random.default_rng(0))


def test_training_pairs_shapes(lumas):
    x, y = training_pairs(random_crops(lumas, 3, 24, np.random.default_rng(0)))
    assert x.shape == (3, 1, 8, 8) and y.shape == (3, 1, 24, 24) and x.dtype == torch.float32


def test_luma_splits_hold_photos_out(rgb):
    photos = {"a.png": rgb, "b.png": rgb.copy(), "c.png": rgb[::-1].copy()}
    splits = luma_splits(photos, held_out=("c.png",), crops_per_photo=2, crop=24)
    assert splits.train_names == ["a.png", "b.png"] and len(splits.train) == 2
    assert splits.test_crops.shape == (2, 24, 24) and splits.test_names == ["c.png", "c.png"]
    with pytest.raises(ValueError, match="not among"):
        luma_splits(photos, held_out=("missing.png",))
    with pytest.raises(ValueError, match="multiple of 3"):
        luma_splits(photos, held_out=("c.png",), crop=25)
    with pytest.raises(ValueError, match="no photo left"):
        luma_splits({"c.png": rgb}, held_out=("c.png",), crop=24)


def test_train_superres_runs_and_checks_inputs(lumas):
    trained = train_superres(lumas, TINY, progress=False)
    assert len(trained.losses) == 3 and all(np.isfinite(trained.losses))
    assert not trained.model.training
    with pytest.raises(ValueError, match="multiple of 3"):
        train_superres(lumas, SRTrainConfig(steps=1, crop=25), progress=False)
    with pytest.raises(ValueError, match="luminance"):
        train_superres([np.zeros((30, 30), np.uint8)], TINY, progress=False)


def test_load_or_train_caches(tmp_path, lumas):
    first = load_or_train_superres(lumas, TINY, folder=tmp_path, progress=False)
    assert first.checkpoint is not None and first.checkpoint.exists()
    second = load_or_train_superres([], TINY, folder=tmp_path, progress=False)  # no data needed
    assert second.losses == first.losses
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


def test_upscale_rgb_shape_and_bad_function(rgb):
    model = build_model("nearest").eval()
    out = upscale_rgb(rgb, torch_upscale_luma(model))
    assert out.shape == (90, 135, 3) and out.dtype == np.uint8
    with pytest.raises(ValueError, match="upscale_luma returned"):
        upscale_rgb(rgb, lambda y: y)


def test_export_runs_in_ort_at_other_sizes(tmp_path):
    from helpers.export.exporters import export_onnx
    from helpers.runtime.sessions import create_session, run

    model = build_model("nearest").eval()
    result = export_onnx(model, torch.rand(1, 1, 16, 16), tmp_path / "sr.onnx", dynamo=True,
                         dynamic_dims={0: "batch", 2: "height", 3: "width"},
                         dim_bounds={"height": (8, 256), "width": (8, 256)}, output_name="output")
    session = create_session(result.path)
    for shape in [(2, 1, 20, 31), (1, 1, 9, 40)]:
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        out = run(session, x)[0]
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        assert out.shape == (shape[0], 1, shape[2] * 3, shape[3] * 3)
        np.testing.assert_allclose(out, expected, atol=1e-5)


def test_show_superres_tables_and_figures(rgb):
    import matplotlib

    matplotlib.use("Agg")
    from helpers.show.superres import (
        colour_psnr_table,
        plot_side_by_side,
        plot_training_loss,
        rgb_psnr,
    )

    assert rgb_psnr(rgb, rgb) == float("inf")
    noisy = np.clip(rgb.astype(int) + 10, 0, 255).astype(np.uint8)
    assert 20 < rgb_psnr(noisy, rgb) < 40
    with pytest.raises(ValueError, match="RGB"):
        rgb_psnr(rgb[..., 0], rgb[..., 0])
    table = colour_psnr_table(rgb, {"same": rgb, "noisy": noisy})
    assert list(table.columns) == ["Y PSNR dB", "RGB PSNR dB"]
    assert table.loc["same", "RGB PSNR dB"] == float("inf") and table.loc["noisy", "Y PSNR dB"] < 40
    fig = plot_training_loss([0.1, 0.05, 0.02], "loss over 3 steps")
    assert fig.axes[0].get_yscale() == "log" and fig.axes[0].get_title() == "loss over 3 steps"
    with pytest.raises(ValueError, match="no losses"):
        plot_training_loss([], "empty")
    small = rgb[::3, ::3]
    fig = plot_side_by_side({"input": small, "original": rgb}, box=(2, 2, 9), title="two views")
    assert len(fig.axes) == 4 and fig._suptitle.get_text() == "two views"
    assert fig.axes[0].images[0].get_array().shape[:2] == rgb.shape[:2]
