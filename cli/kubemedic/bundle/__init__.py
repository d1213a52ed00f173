"""Offline bundles: one multi-image archive + .debs with an apt index + a sha256 manifest.

Layout of a bundle folder (see docs/images.md):

    bundle.json     manifest: images (ref, registry name, image id, layers), files with sha256
    images.tar      `docker save` of every image at once: a layer shared by images is stored once
    debs/           .deb files + Packages/Packages.gz (a flat apt repository for offline installs)
"""

from kubemedic.bundle.manifest import (  # noqa: F401  (the package's public API)
    MANIFEST,
    BundleError,
    load_manifest,
    registry_name,
    verify,
)
