"""Folders of plain files, copied and moved between machines: walked without following folder
links, packed as tar archives of regular files only, and unpacked by runyard itself.

Uploads to `runyard server` (models, datastore files) and its answers (downloads) travel as tar
archives. tarfile's extraction filters have had bypasses (long names and links that resolve
outside the target, CVE-2025-4517 and its siblings, fixed in 3.11.13 / 3.12.11 / 3.13.4), so
nothing here relies on them: an archive may hold only folders and regular files with plain
relative names, within a size and a count, and every file is created anew (O_EXCL, never
through a link) inside a folder that this code made.

Links in a local folder: a link to a folder is refused (two links to `.` make a copy that
follows them grow without end); a link to a file is copied as that file's content, the way
`cp -L` copies it, unless `links_inside` asks that it point inside the folder.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from pathlib import Path

from runyard import settings
from runyard.errors import UserErrorException

CHUNK = 1 << 20
MAX_NAME_PARTS = 64  # folders deep


def plain_files(root: Path, what: str, links_inside: bool = False, on_refused=None,
                skip=None, max_files: int | None = None) -> list[tuple[Path, str]]:
    """Every file under `root` as (the path to read, its posix path relative to root).
    Raises, naming them, for links to folders, special files, and (with links_inside) file
    links that resolve outside root; or, given `on_refused`, leaves them out and calls it with
    the list of what was left out. `skip(relative path, is_folder)` leaves entries out first
    (a folder's content is then never walked). Past `max_files` files the walk stops and
    returns what it found (the caller refuses the folder as too big)."""
    root = Path(root)
    real_root = os.path.realpath(root)
    found: list[tuple[Path, str]] = []
    refused: list[str] = []
    for folder, dirs, names in os.walk(root):
        rel_folder = Path(folder).relative_to(root)
        for name in list(dirs):
            rel = (rel_folder / name).as_posix()
            if skip is not None and skip(rel, True):
                dirs.remove(name)
            elif os.path.islink(os.path.join(folder, name)):
                dirs.remove(name)
                refused.append(f"{rel} -> {os.readlink(os.path.join(folder, name))}")
        for name in names:
            path = os.path.join(folder, name)
            rel = (rel_folder / name).as_posix()
            if skip is not None and skip(rel, False):
                continue
            try:
                mode = os.stat(path).st_mode
            except OSError:  # a dangling link, or a file removed meanwhile
                refused.append(f"{rel} (cannot be read)")
                continue
            if not stat.S_ISREG(mode):
                refused.append(f"{rel} (not a regular file)")
            elif os.path.islink(path) and links_inside and \
                    os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
                refused.append(f"{rel} -> {os.readlink(path)} (outside {root})")
            else:
                found.append((Path(path), rel))
                if max_files is not None and len(found) > max_files:
                    return found
    if refused and on_refused is not None:
        on_refused(refused)
    elif refused:
        shown = "; ".join(refused[:5]) + (f"; and {len(refused) - 5} more" if len(refused) > 5 else "")
        raise UserErrorException(
            f"{what} {root} holds entries runyard does not copy [{shown}]. It copies folders and "
            "files (and links to files) only: replace links with the files they point to "
            "(cp -rL), remove them, or leave them out (.amlignore for a source directory).")
    return sorted(found, key=lambda pair: pair[1])


def copy_tree(source: Path, dest: Path, what: str) -> None:
    """Copy a folder of plain files (see plain_files) to `dest`, which must not exist."""
    files = plain_files(source, what)
    dest.mkdir(parents=True)
    for path, rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        shutil.copymode(path, target)
    for folder, dirs, _names in os.walk(source):  # empty folders too (a SavedModel's assets/)
        for name in dirs:
            (dest / Path(folder).relative_to(source) / name).mkdir(exist_ok=True)


def pack(entries: list[tuple[Path, str]], spool, folders: list[str] = (), progress=None) -> None:
    """Write a tar archive of regular files: each (local file, name in the archive), read
    through any file link; `folders` adds empty folders. The spool is rewound."""
    with tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in folders:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(info)
        for path, name in entries:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                info = tarfile.TarInfo(name)
                info.size, info.mtime = st.st_size, int(st.st_mtime)
                info.mode = 0o755 if st.st_mode & 0o111 else 0o644
                archive.addfile(info, fh)
            if progress is not None:
                progress.advance(st.st_size)
    spool.seek(0)


def pack_folder(source: Path, spool, what: str) -> None:
    """A file, or a folder of plain files, as an archive with one top entry: its own name."""
    source = Path(source)
    if not source.is_dir():
        return pack([(source, source.name)], spool)
    files = plain_files(source, what)
    folders = [source.name] + sorted(
        f"{source.name}/{(Path(folder).relative_to(source) / name).as_posix()}"
        for folder, dirs, _ in os.walk(source) for name in dirs)
    pack([(path, f"{source.name}/{rel}") for path, rel in files], spool, folders)


def unpack(spool, into: Path, what: str = "The archive") -> list[str]:
    """Unpack a tar archive of folders and regular files into the folder `into` (created
    here; it must not exist). Returns the files' relative paths. Raises UserErrorException,
    leaving nothing in `into`, for a link or special member, an unsafe name, a member
    repeated, or more than RUNYARD_ARCHIVE_MAX_MEMBERS entries or RUNYARD_UPLOAD_MAX_MB."""
    into = Path(into)
    into.mkdir(parents=True)
    try:
        return _unpack(spool, into, what)
    except BaseException:
        shutil.rmtree(into, ignore_errors=True)
        raise


def unpack_over(spool, into: Path, what: str) -> list[str]:
    """Unpack into an existing folder of runyard's own making (no links in it), replacing
    files of the same names: a Ray node's ./outputs and ./logs merged into the run's."""
    return _unpack(spool, Path(into), what, replace=True)


def _unpack(spool, into: Path, what: str, replace: bool = False) -> list[str]:
    max_members, max_bytes = settings.archive_max_members(), settings.upload_max_bytes()
    files: list[str] = []
    count = total = 0
    try:
        archive = tarfile.open(fileobj=spool, mode="r:")  # no decompression: no zip bombs
    except tarfile.TarError as exc:
        raise UserErrorException(f"{what} is not a tar archive: {exc}") from None
    with archive:
        try:
            for member in archive:
                count += 1
                if count > max_members:
                    raise UserErrorException(
                        f"{what} has more than {max_members} entries (RUNYARD_ARCHIVE_MAX_MEMBERS).")
                parts = _checked_name(member.name, what)
                if member.isdir():
                    into.joinpath(*parts).mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isreg() or member.issparse():
                    raise UserErrorException(
                        f"{what} holds {member.name!r}, which is not a plain file or folder "
                        "(links and special files are refused).")
                total += member.size
                if total > max_bytes:
                    raise UserErrorException(
                        f"{what} holds more than {max_bytes // (1 << 20)} MB (RUNYARD_UPLOAD_MAX_MB).")
                dest = into.joinpath(*parts)
                if replace and dest.is_file():
                    dest.unlink()
                _write_member(archive, member, dest, what)
                files.append("/".join(parts))
        except (tarfile.TarError, EOFError) as exc:
            raise UserErrorException(f"{what} is damaged: {exc}") from None
        except OSError as exc:  # a full disk, a name too long for this file system
            raise UserErrorException(f"{what} cannot be unpacked into {into}: {exc}") from None
    return files


def _checked_name(name: str, what: str) -> list[str]:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or not parts or len(parts) > MAX_NAME_PARTS or any(
            p == ".." or "\\" in p or "\0" in p or len(p.encode()) > 255 for p in parts):
        raise UserErrorException(f"{what} holds an entry with an unsafe name: {name[:200]!r}.")
    return parts


def _write_member(archive: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, what: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    mode = 0o755 if member.mode & 0o111 else 0o644
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        raise UserErrorException(f"{what} holds {member.name!r} twice.") from None
    source = archive.extractfile(member)
    with os.fdopen(fd, "wb") as out:
        left = member.size
        while left > 0:
            chunk = source.read(min(CHUNK, left))
            if not chunk:
                raise UserErrorException(f"{what} ends inside {member.name!r}.")
            out.write(chunk)
            left -= len(chunk)
