"""Reading a zip upload member by member into a :class:`SourceTree` (never extracted)."""

from __future__ import annotations

import io
import lzma
import stat
import zipfile
import zlib

from packager.errors import ArchiveError
from packager.source.intake.tree import (
    Collector,
    Limits,
    SourceTree,
    normalize_member_name,
    one_line,
    read_bounded,
)


def read_zip(blob: bytes, limits: Limits) -> SourceTree:
    col = Collector(limits, "zip", len(blob))
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
    except UnicodeDecodeError as exc:
        # A name flagged UTF-8 (bit 11) that is not: zipfile refuses the whole archive.
        shown = bytes(exc.object).decode("utf-8", "backslashreplace")
        raise ArchiveError(
            "member name is not valid UTF-8", where=f"member {shown!r}",
            hint="re-create the archive with UTF-8 file names",
        ) from exc
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error, NotImplementedError) as exc:
        raise ArchiveError(
            f"not a readable zip archive: {exc}", where="zip",
            hint="the archive is truncated or corrupt; re-create it",
        ) from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            col.members = len(infos) - 1
            col.count_member(f"member {infos[-1].filename!r}")
        # The central directory declares every size: refuse a bomb before inflating a byte.
        pre = Collector(limits, "zip", len(blob))
        for info in infos:
            if not info.orig_filename.endswith("/"):
                pre.charge(info.file_size, f"member {info.orig_filename!r}")
        for info in infos:
            # orig_filename keeps what zipfile's filename drops after a NUL (and ZipInfo.is_dir()
            # fails on an empty name), so the name checks below see every byte.
            raw_name = info.orig_filename
            if not info.flag_bits & 0x800 and not raw_name.isascii():
                # zipfile decoded a legacy name as cp437; accept it only if the bytes are UTF-8.
                try:
                    raw_name = raw_name.encode("cp437").decode("utf-8")
                except UnicodeError:
                    raw_name = raw_name.encode("cp437").decode("utf-8", "surrogateescape")
            where = f"member {raw_name!r}"
            col.count_member(where)
            unix_mode = info.external_attr >> 16
            fmt = stat.S_IFMT(unix_mode)
            is_dir = raw_name.endswith("/") or fmt == stat.S_IFDIR
            if fmt not in (0, stat.S_IFREG, stat.S_IFDIR):
                kind = "symbolic link" if fmt == stat.S_IFLNK else "special file"
                raise ArchiveError(
                    f"member is a {kind}; only regular files and directories are allowed",
                    where=where, hint="replace links with the files they point to",
                )
            path = normalize_member_name(raw_name, limits, is_dir=is_dir)
            if is_dir:
                col.add_dir(path, where)
                continue
            if info.flag_bits & 0x1:
                raise ArchiveError(
                    "member is encrypted", where=where, hint="upload an unencrypted archive",
                )
            col.charge(info.file_size, where)
            try:
                with zf.open(info) as fh:
                    data = read_bounded(fh, info.file_size, where)
            except ArchiveError:
                raise
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError,
                    RuntimeError, zlib.error, lzma.LZMAError) as exc:
                raise ArchiveError(
                    f"member cannot be read: {one_line(exc)}", where=where,
                    hint="the archive is truncated or corrupt; re-create it",
                ) from exc
            col.add_file(path, data, bool(unix_mode & 0o111), where)
    return col.finish()
