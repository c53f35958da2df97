"""Datasets for self-supervised vision: bundled Fashion-MNIST and photos, folders, CIFAR-10, STL-10.

Every dataset returned here follows one contract, so views, training and evaluation need not care
where images came from: ``dataset[i] -> (image, label)`` with ``image`` a uint8 tensor
``(C, H, W)`` (through the dataset's ``transform`` when given) and ``label`` an int (``-1`` =
unlabelled); ``dataset.labels`` int64 ``(N,)`` and ``dataset.classes`` a tuple of names.

- :func:`load_fashion_mnist`: the bundled subset or the full data
  (:mod:`ssl_core.data.fashion_mnist`);
- :func:`list_photos` / :func:`load_photo`: the bundled colour photos;
  :func:`load_image_folder`, :func:`load_cifar10`, :func:`load_stl10`: data a user has on disk
  (:mod:`ssl_core.data.datasets`), and fixed nested subsets of them (:func:`subset_indices`,
  :func:`array_subset`);
- :func:`walk_images` / :func:`scan_image_folder`: a bounded walk of a folder that never
  follows a link out of it (:mod:`ssl_core.data.walk`);
- :func:`decode_image` / :func:`load_image`: safe decoding of untrusted image bytes
  (:mod:`ssl_core.data.decode`).

Missing or malformed data raises :class:`DataError`, whose message names the path and the layout
that was expected. Where the bundled files are: :mod:`ssl_core.paths`.
"""

from ssl_core.data.datasets import (
    ArrayImageDataset,
    ImageFileDataset,
    TorchvisionImageDataset,
    array_subset,
    draw_order,
    list_photos,
    load_cifar10,
    load_image_folder,
    load_photo,
    load_photos,
    load_stl10,
    subset_indices,
)
from ssl_core.data.decode import IMAGE_EXTENSIONS, DataError, decode_image, load_image
from ssl_core.data.fashion_mnist import (
    DEBIAN_FASHION_MNIST_DIR,
    FASHION_MNIST_CLASSES,
    load_fashion_mnist,
    read_idx,
)
from ssl_core.data.walk import (
    WalkLimitError,
    WalkLimits,
    is_within,
    scan_image_folder,
    walk_images,
)

__all__ = [
    "DEBIAN_FASHION_MNIST_DIR",
    "FASHION_MNIST_CLASSES",
    "IMAGE_EXTENSIONS",
    "ArrayImageDataset",
    "DataError",
    "ImageFileDataset",
    "TorchvisionImageDataset",
    "WalkLimitError",
    "WalkLimits",
    "array_subset",
    "decode_image",
    "draw_order",
    "is_within",
    "list_photos",
    "load_cifar10",
    "load_fashion_mnist",
    "load_image",
    "load_image_folder",
    "load_photo",
    "load_photos",
    "load_stl10",
    "read_idx",
    "scan_image_folder",
    "subset_indices",
    "walk_images",
]
