"""Tests for course_lib.data: conversions, SpriteDataset and its loaders."""
import csv
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.data import CLASS_NAMES, SpriteDataset, to_model_space, to_uint8

DCSS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "dcss-sprites"
RED = (1.0, -1.0, -1.0)  # in model space


def all_byte_values():
    """uint8 (2, 16, 16, 3) holding every value 0..255 in each channel, in a different order per channel."""
    values = np.arange(256, dtype=np.uint8)
    channels = [values, values[::-1], np.roll(values, 100)]
    return np.stack([np.tile(c.reshape(16, 16), (2, 1, 1)) for c in channels], axis=-1)


def write_course_files(folder, n=6, n_classes=5, name="1788_16x16"):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)
    labels = np.eye(n_classes)[np.arange(n) % n_classes]  # float64, like the course's file
    images_path, labels_path = folder / f"sprites_{name}.npy", folder / f"sprite_labels_nc_{name}.npy"
    np.save(images_path, images)
    np.save(labels_path, labels)
    return images_path, labels_path, images, labels


def red_square_png(path):
    """32x32 RGBA: transparent background, opaque red square over pixels 8..23 (2x2-block aligned)."""
    image = Image.new("RGBA", (32, 32), (0, 255, 0, 0))  # transparent green: must not bleed into the result
    image.paste((255, 0, 0, 255), (8, 8, 24, 24))
    image.save(path)


# --- conversions -------------------------------------------------------------------------------

def test_conversions_round_trip_every_byte_value():
    pictures = all_byte_values()
    x = to_model_space(pictures)
    assert x.dtype == torch.float32 and x.shape == (2, 3, 16, 16)
    expected = torch.from_numpy(pictures.astype(np.float32) / 127.5 - 1).permute(0, 3, 1, 2)
    assert torch.equal(x, expected)
    assert x.min().item() == -1.0 and x.max().item() == 1.0
    assert x[0, 1, 0, 0].item() == 1.0  # channel 1 starts at 255: channels land in the right place
    back = to_uint8(x)
    assert back.dtype == np.uint8 and back.shape == pictures.shape
    np.testing.assert_array_equal(back, pictures)
    np.testing.assert_array_equal(to_uint8(x.numpy()), pictures)  # numpy in works too
    np.testing.assert_array_equal(to_uint8(to_model_space(torch.from_numpy(pictures))), pictures)


def test_to_uint8_rounds_and_clamps():
    x = torch.tensor([-5.0, -1.0, 0.0, 0.5, 1.0, 7.0]).reshape(1, 1, 1, 6).expand(1, 3, 1, 6)
    assert to_uint8(x)[0, 0, :, 0].tolist() == [0, 0, 128, 191, 255, 255]  # 127.5 -> 128, 191.25 -> 191


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 16, 16, 3), np.float32), "uint8.*float32"),
    (np.zeros((2, 3, 16, 16), np.uint8), r"\(N, H, W, 3\).*\(2, 3, 16, 16\)"),
    (np.zeros((16, 16, 3), np.uint8), r"images\[None\]"),
    ([[1, 2, 3]], "list"),
])
def test_to_model_space_rejects(bad, match):
    with pytest.raises(TypeError, match=match):
        to_model_space(bad)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 16, 16, 3), np.uint8), r"float.*uint8"),
    (torch.zeros(2, 16, 16, 3), r"\(N, 3, H, W\).*\(2, 16, 16, 3\)"),
    (torch.zeros(3, 16, 16), r"images\[None\]"),
])
def test_to_uint8_rejects(bad, match):
    with pytest.raises(TypeError, match=match):
        to_uint8(bad)


def test_to_uint8_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        to_uint8(torch.full((1, 3, 2, 2), float("nan")))


# --- the dataset itself ------------------------------------------------------------------------

def small_dataset(n=10, n_classes=5):
    images = torch.linspace(-1, 1, n).reshape(n, 1, 1, 1).expand(n, 3, 4, 4)
    labels = torch.eye(n_classes)[torch.arange(n) % n_classes]
    return SpriteDataset(images, labels)


def test_dataset_items_subset_and_counts():
    ds = small_dataset(10)
    assert len(ds) == 10 and ds.class_names == CLASS_NAMES
    image, label = ds[3]
    assert image.shape == (3, 4, 4) and image.dtype == torch.float32
    assert label.tolist() == [0, 0, 0, 1, 0]
    assert ds.class_counts() == dict.fromkeys(CLASS_NAMES, 2)
    sub = ds.subset([0, 1, 5])
    assert isinstance(sub, SpriteDataset) and len(sub) == 3 and sub.class_names == ds.class_names
    assert torch.equal(sub.images, ds.images[[0, 1, 5]])
    assert sub.class_counts() == {"hero": 2, "non-hero": 1, "food": 0, "spell": 0, "side-facing": 0}
    assert len(ds.subset(slice(2, 5))) == 3 and len(ds.subset(ds.labels[:, 0] == 1)) == 2
    images, labels = ds[2:5]
    assert images.shape == (3, 3, 4, 4) and labels.shape == (3, 5)
    batch_images, batch_labels = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch_images.shape == (4, 3, 4, 4) and torch.equal(batch_labels, ds.labels[:4])
    assert "10 sprites of 4x4" in repr(ds) and "hero: 2" in repr(ds)


def test_dataset_class_names():
    assert small_dataset(4, n_classes=3).class_names == ("class 0", "class 1", "class 2")
    ds = SpriteDataset(torch.zeros(2, 3, 4, 4), torch.eye(2), ["cat", "dog"])
    assert ds.class_names == ("cat", "dog") and ds.class_counts() == {"cat": 1, "dog": 1}
    with pytest.raises(ValueError, match="class_names must be 2 strings"):
        SpriteDataset(torch.zeros(2, 3, 4, 4), torch.eye(2), ["cat"])


@pytest.mark.parametrize("images, labels, error, match", [
    (torch.zeros(3, 3, 4, 4), torch.eye(2), ValueError, "3 images but 2 labels"),
    (torch.full((2, 3, 4, 4), 2.0), torch.eye(2), ValueError, r"\[-1, 1\].*to_model_space"),
    (torch.full((2, 3, 4, 4), float("nan")), torch.eye(2), ValueError, r"\[-1, 1\]"),
    (np.zeros((2, 4, 4, 3), np.uint8), torch.eye(2), TypeError, "to_model_space"),
    (torch.zeros(2, 3, 4, 4), torch.tensor([0, 1]), TypeError, "one_hot"),
])
def test_dataset_rejects(images, labels, error, match):
    with pytest.raises(error, match=match):
        SpriteDataset(images, labels)


def test_generated():
    ds = SpriteDataset.generated(n=8, seed=3)
    assert ds.images.shape == (8, 3, 16, 16) and ds.images.dtype == torch.float32
    assert -1 <= ds.images.min() and ds.images.max() <= 1
    assert ds.labels.shape == (8, 5) and torch.equal(ds.labels.sum(1), torch.ones(8))
    assert ds.class_names == CLASS_NAMES
    again = SpriteDataset.generated(n=8, seed=3)
    assert torch.equal(ds.images, again.images) and torch.equal(ds.labels, again.labels)
    with pytest.raises(ValueError, match="n must be a positive number of sprites"):
        SpriteDataset.generated(n=0)


# --- the course's .npy files -------------------------------------------------------------------

def test_from_npy(tmp_path):
    images_path, labels_path, images, labels = write_course_files(tmp_path)
    ds = SpriteDataset.from_npy(images_path, labels_path)
    assert torch.equal(ds.images, to_model_space(images))
    assert ds.labels.dtype == torch.float32 and np.array_equal(ds.labels.numpy(), labels)
    assert ds.class_names == CLASS_NAMES
    np.testing.assert_array_equal(to_uint8(ds.images), images)
    images_path, labels_path, _, _ = write_course_files(tmp_path, n_classes=3, name="three")
    three = SpriteDataset.from_npy(str(images_path), str(labels_path))
    assert three.class_names == ("class 0", "class 1", "class 2")


def npy_cases():
    """(name, what to write: {file name: array}, error, which file the message must name, message pattern)."""
    good_images = np.zeros((4, 16, 16, 3), np.uint8)
    good_labels = np.eye(5)[:4]
    return [
        ("images missing", {"labels.npy": good_labels}, FileNotFoundError, "images.npy", "uint8"),
        ("labels missing", {"images.npy": good_images}, FileNotFoundError, "labels.npy", "float"),
        ("lengths differ", {"images.npy": good_images, "labels.npy": np.eye(5)}, ValueError, "images.npy",
         "4 sprites but .*labels.npy has 5 labels"),
        ("images float", {"images.npy": good_images.astype(np.float32), "labels.npy": good_labels},
         ValueError, "images.npy", "must be uint8.*float32"),
        ("labels int", {"images.npy": good_images, "labels.npy": good_labels.astype(np.int64)}, ValueError,
         "labels.npy", "float.*int64"),
        ("channels first", {"images.npy": np.zeros((4, 3, 16, 16), np.uint8), "labels.npy": good_labels},
         ValueError, "images.npy", r"\(N, H, W, 3\).*channels first"),
        ("images RGBA", {"images.npy": np.zeros((4, 16, 16, 4), np.uint8), "labels.npy": good_labels},
         ValueError, "images.npy", r"\(N, H, W, 3\)"),
        ("labels 1-D", {"images.npy": good_images, "labels.npy": np.arange(4.0)}, ValueError, "labels.npy",
         r"\(N, n_classes\)"),
        ("labels pickled", {"images.npy": good_images, "labels.npy": np.array([{"a": 1}] * 4, dtype=object)},
         ValueError, "labels.npy", "not a readable .npy"),
    ]


@pytest.mark.parametrize("case", npy_cases(), ids=lambda case: case[0])
def test_from_npy_errors_name_the_file(tmp_path, case):
    _, files, error, named, pattern = case
    for name, array in files.items():
        np.save(tmp_path / name, array, allow_pickle=True)
    with pytest.raises(error, match=re.escape(named)) as info:
        SpriteDataset.from_npy(tmp_path / "images.npy", tmp_path / "labels.npy")
    assert re.search(pattern, str(info.value)), str(info.value)


def test_from_npy_rejects_garbage_and_npz(tmp_path):
    (tmp_path / "images.npy").write_bytes(b"not an array at all")
    np.save(tmp_path / "labels.npy", np.eye(5))
    with pytest.raises(ValueError, match="images.npy is not a readable .npy"):
        SpriteDataset.from_npy(tmp_path / "images.npy", tmp_path / "labels.npy")
    np.savez(tmp_path / "both.npz", images=np.zeros((5, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="both.npz is an .npz archive"):
        SpriteDataset.from_npy(tmp_path / "both.npz", tmp_path / "labels.npy")


# --- folders of images -------------------------------------------------------------------------

def make_folder(root):
    """Classes created out of order; extra files that must be ignored; several formats and sizes."""
    for name in ("zeta", "alpha", "mid"):
        (root / name).mkdir(parents=True)
    red_square_png(root / "zeta" / "a.png")
    red_square_png(root / "zeta" / "b.PNG")
    (root / "zeta" / "notes.txt").write_text("not an image")
    Image.new("RGB", (8, 8), (0, 0, 255)).save(root / "alpha" / "small_blue.bmp")  # enlarged
    wide = Image.new("RGBA", (48, 24), (0, 0, 0, 0))  # padded to 48x48 on white, then 48 -> 16
    wide.paste((0, 0, 0, 255), (0, 0, 48, 24))
    wide.save(root / "alpha" / "wide.gif")
    half = Image.new("RGBA", (16, 16), (255, 0, 0, 128))  # half-transparent red over white: pink
    half.save(root / "mid" / "half.png")
    Image.new("RGB", (16, 16), (0, 255, 0)).save(root / "mid" / "green.jpg", quality=100)
    (root / "README.txt").write_text("top-level files are ignored")
    (root / "labels.csv").write_text("file,label\n")
    (root / ".ipynb_checkpoints").mkdir()  # Jupyter's hidden folder is not a class
    return root


def test_from_folder(tmp_path):
    ds = SpriteDataset.from_folder(make_folder(tmp_path / "sprites"))
    assert ds.class_names == ("alpha", "mid", "zeta")
    assert ds.images.shape == (6, 3, 16, 16) and ds.images.dtype == torch.float32
    assert ds.labels.tolist() == [[1, 0, 0]] * 2 + [[0, 1, 0]] * 2 + [[0, 0, 1]] * 2
    assert ds.class_counts() == {"alpha": 2, "mid": 2, "zeta": 2}
    small_blue, wide, green, half, red_a, red_b = ds.images  # sorted by file name within each class
    for red in (red_a, red_b):  # 32 -> 16: the square covers pixels 4..11 exactly, the rest is white
        inside = torch.zeros(16, 16, dtype=torch.bool)
        inside[4:12, 4:12] = True
        assert torch.equal(red[:, inside], torch.tensor(RED).reshape(3, 1).expand(3, 64))
        assert torch.equal(red[:, ~inside], torch.ones(3, 256 - 64))
    assert torch.equal(small_blue, torch.tensor([-1.0, -1.0, 1.0]).reshape(3, 1, 1).expand(3, 16, 16))
    assert torch.equal(wide[:, 4:12], -torch.ones(3, 8, 16))  # black band in the middle, centred
    assert torch.equal(wide[:, :4], torch.ones(3, 4, 16)) and torch.equal(wide[:, 12:], torch.ones(3, 4, 16))
    assert torch.allclose(half[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]), atol=1 / 127.5)
    assert green[1].min() > 0.95 and green[0].max() < -0.95


def test_from_folder_reads_16_bit_and_palette_pngs_as_their_8_bit_twins(tmp_path):
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)  # every 8-bit value once
    rgb = np.stack([grey, grey[::-1], grey.T], -1)
    (tmp_path / "eight" / "a").mkdir(parents=True)
    (tmp_path / "deep" / "a").mkdir(parents=True)
    Image.fromarray(np.repeat(grey[..., None], 3, -1)).save(tmp_path / "eight" / "a" / "grey.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "deep" / "a" / "grey.png")  # mode I;16
    Image.fromarray(rgb).save(tmp_path / "eight" / "a" / "rgb.png")
    Image.fromarray(rgb).quantize(256).save(tmp_path / "deep" / "a" / "rgb.png")  # mode P, 256 colours
    eight, deep = SpriteDataset.from_folder(tmp_path / "eight"), SpriteDataset.from_folder(tmp_path / "deep")
    assert Image.open(tmp_path / "deep" / "a" / "grey.png").mode.startswith("I;16")
    assert np.array_equal(to_uint8(deep.images[:1]), to_uint8(eight.images[:1]))  # 16-bit grey: exact
    palette_error = np.abs(to_uint8(deep.images[1:]).astype(int) - to_uint8(eight.images[1:])).mean()
    assert palette_error < 8  # the palette holds 256 of the picture's colours: close, not exact


def test_from_folder_other_size(tmp_path):
    ds = SpriteDataset.from_folder(make_folder(tmp_path / "sprites"), size=8)
    assert ds.images.shape == (6, 3, 8, 8)
    assert torch.equal(ds.images[4, :, 2:6, 2:6], torch.tensor(RED).reshape(3, 1, 1).expand(3, 4, 4))


def test_from_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere does not exist"):
        SpriteDataset.from_folder(tmp_path / "nowhere")
    flat = tmp_path / "flat"
    flat.mkdir()
    red_square_png(flat / "a.png")
    with pytest.raises(ValueError, match="flat has no class subfolders"):
        SpriteDataset.from_folder(flat)
    with pytest.raises(FileNotFoundError, match="a.png is not a folder"):
        SpriteDataset.from_folder(flat / "a.png")
    (flat / "hero").mkdir()
    red_square_png(flat / "hero" / "a.png")
    (flat / "empty").mkdir()
    (flat / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"class folder .*empty has no images"):
        SpriteDataset.from_folder(flat)
    with pytest.raises(ValueError, match="size must be a positive integer"):
        SpriteDataset.from_folder(flat, size=0)


def test_from_folder_corrupt_image_names_the_file(tmp_path):
    (tmp_path / "hero").mkdir()
    red_square_png(tmp_path / "hero" / "good.png")
    (tmp_path / "hero" / "broken.png").write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(ValueError, match=r"hero[/\\]broken\.png: could not read") as info:
        SpriteDataset.from_folder(tmp_path)
    assert info.value.__cause__ is not None


def test_from_folder_truncated_png_names_the_file(tmp_path):
    (tmp_path / "hero").mkdir()
    red_square_png(tmp_path / "hero" / "cut.png")
    data = (tmp_path / "hero" / "cut.png").read_bytes()
    (tmp_path / "hero" / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.png: could not read"):
        SpriteDataset.from_folder(tmp_path)


# --- load(): what --data names -----------------------------------------------------------------

def test_load_dispatch(tmp_path):
    generated = SpriteDataset.load("sprites", n=5, seed=2)
    assert len(generated) == 5 and torch.equal(generated.images, SpriteDataset.generated(5, seed=2).images)
    images_path, _, images, _ = write_course_files(tmp_path, n=10)
    from_file = SpriteDataset.load(str(images_path))
    assert torch.equal(from_file.images, to_model_space(images))
    some = SpriteDataset.load(images_path, n=4, seed=1)
    assert len(some) == 4 and torch.equal(some.images, SpriteDataset.load(images_path, n=4, seed=1).images)
    assert not torch.equal(some.images, from_file.images[:4])  # a random draw, not the first four
    assert len(SpriteDataset.load(images_path, n=1000)) == 10  # at most n
    folder = SpriteDataset.load(make_folder(tmp_path / "folder"))
    assert folder.class_names == ("alpha", "mid", "zeta") and len(folder) == 6


def test_load_errors(tmp_path):
    images_path, labels_path, _, _ = write_course_files(tmp_path)
    labels_path.unlink()
    with pytest.raises(FileNotFoundError, match="sprite_labels_nc_1788_16x16.npy not found"):
        SpriteDataset.load(images_path)
    with pytest.raises(FileNotFoundError, match="sprites_other.npy not found"):
        SpriteDataset.load(tmp_path / "sprites_other.npy")
    with pytest.raises(FileNotFoundError, match="nosuch.npy not found"):
        SpriteDataset.load(tmp_path / "nosuch.npy")
    np.save(tmp_path / "mine.npy", np.zeros((2, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="mine.npy: can't tell where its labels are"):
        SpriteDataset.load(tmp_path / "mine.npy")
    for spec in ("sprite", str(tmp_path / "nothing_here"), str(tmp_path / "sprites_1788_16x16.npy.bak")):
        with pytest.raises(ValueError, match=r'"sprites".*\.npy.*folder'):
            SpriteDataset.load(spec)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        SpriteDataset.load("sprites", n=-3)


# --- real pixel art (read in place; never copied into the project) -----------------------------

@pytest.mark.skipif(not DCSS.is_dir(), reason=f"the DCSS pixel-art test folder is absent ({DCSS})")
def test_from_folder_dcss_pixel_art():
    with open(DCSS / "manifest.csv", newline="") as f:
        expected = Counter(row["label"] for row in csv.DictReader(f))
    start = time.perf_counter()
    ds = SpriteDataset.from_folder(DCSS)
    seconds = time.perf_counter() - start
    assert sum(expected.values()) == 2646
    assert len(ds) == 2646 and ds.images.shape == (2646, 3, 16, 16)
    assert ds.class_names == ("food", "hero", "item", "non-hero", "spell") == tuple(sorted(expected))
    assert ds.class_counts() == dict(expected)
    assert ds.images.min() >= -1 and ds.images.max() <= 1
    assert torch.equal(ds.labels.sum(1), torch.ones(2646))
    assert (ds.images == 1).all(dim=1).float().mean() > 0.2  # transparent surroundings became white
    assert seconds < 60, f"loading 2,646 small PNGs took {seconds:.1f} s"
