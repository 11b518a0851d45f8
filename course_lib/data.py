"""Sprite data: pixel conversions and a Dataset that loads sprites from the generator, the course's
.npy files, or a folder of image files.

Inside the library images are float32 NCHW in [-1, 1]; at the edges (files, pictures) they are
uint8 NHWC, like the course's ``sprites_1788_16x16.npy``. Labels are float32 one-hot (N, C).
"""
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .sprites import CLASS_NAMES, generate_sprites

__all__ = ["CLASS_NAMES", "IMAGE_SUFFIXES", "SpriteDataset", "to_model_space", "to_uint8"]

IMAGE_SUFFIXES = (".png", ".gif", ".bmp", ".jpg", ".jpeg")
DATA_FORMS = (
    '"sprites" (generated sprites), '
    "a path to a sprites .npy file (e.g. sprites_1788_16x16.npy, with sprite_labels_nc_1788_16x16.npy "
    "next to it), or a folder with one subfolder of images per class"
)


def _describe(x):
    if not hasattr(x, "dtype"):
        return f"a {type(x).__name__}"
    return f"a {type(x).__name__} of dtype {x.dtype} and shape {tuple(x.shape)}"


def to_model_space(images):
    """uint8 images (N, H, W, 3), numpy or torch, -> float32 tensor (N, 3, H, W) in [-1, 1]."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    ok = isinstance(images, torch.Tensor) and images.dtype == torch.uint8
    if not (ok and images.ndim == 4 and images.shape[-1] == 3):
        hint = " (one image? use images[None])" if getattr(images, "ndim", 0) == 3 else ""
        raise TypeError(
            "to_model_space expects uint8 RGB images shaped (N, H, W, 3), like the course's sprites .npy "
            f"file; got {_describe(images)}{hint}"
        )
    x = images.permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W)
    return x.to(torch.float32).div_(127.5).sub_(1)


def to_uint8(images):
    """Float images (N, 3, H, W) in [-1, 1], numpy or torch -> numpy uint8 (N, H, W, 3), clamped."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    ok = isinstance(images, torch.Tensor) and images.is_floating_point()
    if not (ok and images.ndim == 4 and images.shape[1] == 3):
        hint = " (one image? use images[None])" if getattr(images, "ndim", 0) == 3 else ""
        raise TypeError(
            f"to_uint8 expects float images shaped (N, 3, H, W) in [-1, 1], as the model makes them; "
            f"got {_describe(images)}{hint}"
        )
    x = images.detach().to("cpu", torch.float32)
    if torch.isnan(x).any():
        raise ValueError("to_uint8 got images containing NaN: the model made invalid values (diverged?)")
    x = ((x + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous().numpy()  # (N, H, W, 3)


def _default_class_names(n_classes):
    if n_classes == len(CLASS_NAMES):
        return tuple(CLASS_NAMES)
    return tuple(f"class {i}" for i in range(n_classes))


class SpriteDataset(torch.utils.data.Dataset):
    """Sprites and their one-hot labels; ``ds[i]`` is (image (3, H, W) in [-1, 1], label (C,)).

    ``images``: float32 tensor (N, 3, H, W) in [-1, 1]; ``labels``: float32 tensor (N, C);
    ``class_names``: tuple of C names (default: the course's 5 names when C == 5, else "class 0", ...).
    Build one from uint8 pictures with ``to_model_space`` or the classmethods below.
    """

    def __init__(self, images, labels, class_names=None):
        images = torch.as_tensor(images)
        labels = torch.as_tensor(labels)
        if not images.is_floating_point() or images.ndim != 4 or images.shape[1] != 3:
            raise TypeError(
                f"SpriteDataset images must be float (N, 3, H, W) in [-1, 1], got {_describe(images)}; "
                "for uint8 (N, H, W, 3) pictures call to_model_space(images) first, or use from_npy"
            )
        if not labels.is_floating_point() or labels.ndim != 2:
            raise TypeError(
                f"SpriteDataset labels must be float one-hot (N, n_classes), got {_describe(labels)}; "
                "convert class indices with torch.nn.functional.one_hot(indices, n_classes).float()"
            )
        if len(images) != len(labels):
            raise ValueError(
                f"SpriteDataset got {len(images)} images but {len(labels)} labels; give one label per image"
            )
        if images.shape[2] != images.shape[3]:
            raise ValueError(f"SpriteDataset images must be square, got {images.shape[2]}x{images.shape[3]}; "
                             "pad or crop them (from_folder pads pictures with white)")
        if not (torch.isfinite(labels).all() and (labels >= 0).all()):
            raise ValueError("SpriteDataset labels must be finite and >= 0 (one-hot rows, or mixes of them); "
                             "these hold NaN, infinity or negative values")
        if len(images):
            lo, hi = torch.aminmax(images)
            if not (lo >= -1 and hi <= 1):  # also catches NaN
                raise ValueError(
                    f"SpriteDataset images must lie in [-1, 1], got values in [{lo.item()}, {hi.item()}]; "
                    "map uint8 pictures with to_model_space, or [0, 1] images with x * 2 - 1"
                )
        n_classes = labels.shape[1]
        class_names = _default_class_names(n_classes) if class_names is None else tuple(class_names)
        if len(class_names) != n_classes or not all(isinstance(c, str) for c in class_names):
            raise ValueError(f"class_names must be {n_classes} strings, one per label, got {class_names}")
        self.images = images.to(torch.float32)
        self.labels = labels.to(torch.float32)
        self.class_names = class_names

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        """(image, label) for an integer index; a slice or index tensor gives stacked batches."""
        return self.images[index], self.labels[index]

    def __repr__(self):
        h, w = self.images.shape[2:]
        counts = ", ".join(f"{name}: {count}" for name, count in self.class_counts().items())
        return f"SpriteDataset({len(self)} sprites of {h}x{w}; {counts})"

    def subset(self, indices):
        """A SpriteDataset of the sprites at ``indices``: a slice, list/array/tensor of indices, or mask."""
        if not isinstance(indices, slice):
            indices = torch.as_tensor(indices)
        return SpriteDataset(self.images[indices], self.labels[indices], self.class_names)

    def class_counts(self):
        """{class name: number of sprites}, in class order; each sprite counts for its largest label entry."""
        counts = torch.bincount(self.labels.argmax(1), minlength=len(self.class_names))
        return {name: int(count) for name, count in zip(self.class_names, counts)}

    @classmethod
    def generated(cls, n=89_400, seed=0):
        """n sprites from ``generate_sprites`` (the course's file has 89,400); same seed, same sprites."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive number of sprites (the course has 89400), got {n!r}")
        images, labels = generate_sprites(n, seed=seed)
        return cls(to_model_space(images), labels, CLASS_NAMES)

    @classmethod
    def from_npy(cls, images_path, labels_path):
        """The course's files: images uint8 (N, H, W, 3), e.g. sprites_1788_16x16.npy, and labels float
        (N, C), e.g. sprite_labels_nc_1788_16x16.npy."""
        images = _load_npy(images_path, "uint8 sprite images (N, 16, 16, 3), like sprites_1788_16x16.npy")
        labels = _load_npy(labels_path, "float labels (N, 5), like sprite_labels_nc_1788_16x16.npy")
        if images.dtype != np.uint8:
            raise ValueError(
                f"{images_path}: sprite images must be uint8 (0..255), got {images.dtype}; "
                "pass the images file first and the labels file second, or save the pictures as np.uint8"
            )
        if images.ndim != 4 or images.shape[-1] != 3:
            channels_first = images.ndim == 4 and images.shape[1] == 3
            hint = " (channels first? save as (N, H, W, 3))" if channels_first else ""
            raise ValueError(f"{images_path}: images must be shaped (N, H, W, 3), got {images.shape}{hint}")
        if not np.issubdtype(labels.dtype, np.floating):
            raise ValueError(
                f"{labels_path}: labels must be float one-hot rows (N, n_classes), got dtype {labels.dtype}; "
                "pass the images file first and the labels file second, or save the labels as np.float32"
            )
        if labels.ndim != 2:
            raise ValueError(f"{labels_path}: labels must have shape (N, n_classes), got {labels.shape}")
        if len(images) != len(labels):
            raise ValueError(
                f"{images_path} has {len(images)} sprites but {labels_path} has {len(labels)} labels; "
                "they must come from the same set (same number in both file names)"
            )
        return cls(to_model_space(images), torch.from_numpy(labels))

    @classmethod
    def from_folder(cls, path, size=16):
        """A folder with one subfolder per class (sorted names = class names) of images of any size.

        Each image is composited on white (transparent -> white), padded with white to a square and resized
        to size x size. Files at the top level and non-image files are ignored, as are hidden entries.
        """
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive integer (the course's sprites are 16), got {size!r}")
        root = Path(path)
        if not root.is_dir():
            what = "is not a folder" if root.exists() else "does not exist"
            raise FileNotFoundError(f"{root} {what}; expected a folder of class subfolders of images")
        class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if not class_dirs:
            raise ValueError(
                f"{root} has no class subfolders; put the images in one subfolder per class, "
                f"e.g. {root / 'hero' / 'knight.png'}"
            )
        pictures, class_ids = [], []
        for class_id, class_dir in enumerate(class_dirs):
            files = sorted(
                f for f in class_dir.iterdir()
                if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file() and not f.name.startswith(".")
            )
            if not files:
                raise ValueError(
                    f"class folder {class_dir} has no images ({', '.join(IMAGE_SUFFIXES)}); "
                    "add some or remove the folder (subfolders inside it are not searched)"
                )
            pictures += [_read_sprite(f, size) for f in files]
            class_ids += [class_id] * len(files)
        labels = torch.nn.functional.one_hot(torch.tensor(class_ids), len(class_dirs)).float()
        return cls(to_model_space(np.stack(pictures)), labels, tuple(d.name for d in class_dirs))

    @classmethod
    def load(cls, spec, n=None, seed=0):
        """What ``--data`` names: "sprites", a sprites_X.npy file (labels read from sprite_labels_nc_X.npy
        beside it) or a folder of class subfolders (write a folder named sprites as ./sprites).
        ``n``: how many generated sprites (default 89,400), or at most n sprites drawn at random
        (with ``seed``) from a file or folder (default all)."""
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"n must be a positive integer number of sprites or None, got {n!r}")
        if spec == "sprites":
            return cls.generated(89_400 if n is None else n, seed=seed)
        if not str(spec).strip():
            raise ValueError(f"--data is empty; it can be {DATA_FORMS}")
        path = Path(spec)
        if path.suffix.lower() == ".npy":
            if not path.is_file():
                raise FileNotFoundError(f"{path} not found; the data can be {DATA_FORMS}")
            if not path.name.startswith("sprites_"):
                raise ValueError(
                    f"{path}: can't tell where its labels are; name it like the course's, sprites_X.npy "
                    "with the labels in sprite_labels_nc_X.npy beside it, or call SpriteDataset.from_npy"
                )
            labels_path = path.with_name("sprite_labels_nc_" + path.name[len("sprites_"):])
            if not labels_path.is_file():
                raise FileNotFoundError(
                    f"{labels_path} not found: the labels for {path.name} must be beside it, named like the "
                    "course's (sprites_X.npy -> sprite_labels_nc_X.npy)"
                )
            dataset = cls.from_npy(path, labels_path)
        elif path.is_dir():
            dataset = cls.from_folder(path)
        else:
            missing = "" if path.exists() else " (no such file or folder)"
            raise ValueError(f"--data {spec!r}{missing}: expected {DATA_FORMS}")
        if n is not None and n < len(dataset):
            order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
            dataset = dataset.subset(order[:n])
        return dataset


def _load_npy(path, expected):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; expected {expected}")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable .npy array ({exc}); expected {expected}") from exc
    if not isinstance(array, np.ndarray):  # an .npz archive
        array.close()
        raise ValueError(f"{path} is an .npz archive, not a single .npy array; expected {expected}")
    return array


def _to_rgba(image):
    """A Pillow image as 8-bit RGBA; 16-bit grey (modes I;16 and I, values 0..65535) scaled to 8 bits
    (Pillow's own conversion clips them at 255, which turns a 16-bit picture white)."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        values = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.round(values / 257).clip(0, 255).astype(np.uint8))  # 65535 -> 255
    return image.convert("RGBA")


def _read_sprite(file, size):
    """One image file -> uint8 (size, size, 3): alpha composited on white, padded square, resized."""
    try:
        with Image.open(file) as image:
            image = _to_rgba(image)
    except Exception as exc:  # Pillow's decoders raise many exception types for a bad file
        raise ValueError(
            f"{file}: could not read this image ({type(exc).__name__}: {exc}); fix or remove the file"
        ) from exc
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    image = Image.alpha_composite(white, image).convert("RGB")
    side = max(image.size)
    if image.size != (side, side):
        square = Image.new("RGB", (side, side), (255, 255, 255))
        square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
        image = square
    if side > size:
        # BOX averages each output pixel's exact source area: 32 -> 16 is a clean 2x2 mean, and at other
        # ratios it never overshoots, while LANCZOS rings (halos, clipped colours) at pixel art's hard edges.
        image = image.resize((size, size), Image.BOX)
    elif side < size:
        image = image.resize((size, size), Image.NEAREST)  # enlarging: keep pixels crisp, don't blur them
    return np.asarray(image)  # (size, size, 3)


def parse_context(spec, class_names=CLASS_NAMES):
    """A context vector from text: "hero", "hero=1,food=0.6", or "none" (-> None, the null context)."""
    if spec is not None and not isinstance(spec, str):
        raise TypeError(f'a context is text like "hero" or "hero=1,food=0.6", got {spec!r}; '
                        "pass a tensor to the samplers directly")
    if spec is None or spec.strip().lower() in ("", "none", "null"):
        return None
    weights = [0.0] * len(class_names)
    seen = set()
    for part in spec.split(","):
        name, equals, value = part.partition("=")
        name = name.strip()
        if name not in class_names:
            raise ValueError(f"unknown class {name!r} in context {spec!r}; use names from {list(class_names)}, "
                             'e.g. "hero" or "hero=1,food=0.6", or "none"')
        if name in seen:
            raise ValueError(f"class {name!r} appears twice in context {spec!r}; give each class one weight")
        seen.add(name)
        try:
            weights[class_names.index(name)] = float(value) if equals else 1.0  # "hero" alone: weight 1
        except ValueError:
            raise ValueError(f"weight {value!r} for {name!r} in context {spec!r} is not a number; "
                             'write "hero" or "hero=0.5"') from None
    if not all(0 <= w < float("inf") for w in weights):
        raise ValueError(f"context weights must be finite and non-negative, got {spec!r}")
    return torch.tensor(weights)
