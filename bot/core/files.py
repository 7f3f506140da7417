"""File names a chart is saved or sent under: the metric and its slice, safe on any file
system (`check --charts`, the terminal chat's charts, a photo's name in Telegram)."""

from __future__ import annotations

import hashlib
import re

__all__ = ["NAME_MAX_BYTES", "chart_file_name", "shortened"]

# Characters file systems refuse or treat specially (Windows' set, path separators, controls),
# and what the name's readable form replaces ("=" and spaces).
_UNSAFE = re.compile(r'[<>:"/\\|?*=\s\x00-\x1f\x7f]')
NAME_MAX_BYTES = 255  # the common file name limit (ext4, APFS, NTFS in characters)
_TAIL = len("~0123456789.png")  # what a shortened name keeps of its end


def chart_file_name(metric: str, slice_label: str) -> str:
    """The PNG's file name for a metric's slice, e.g. views__country_Belarus.png: characters a
    file system refuses or treats specially become "_", and a name over 255 bytes (a long
    Cyrillic slice value) is cut short and ends in a hash of the whole label, so slices that
    share a long beginning keep apart."""
    name = _UNSAFE.sub("_", f"{metric}__{slice_label}")
    if len(name.encode()) + len(".png") <= NAME_MAX_BYTES:
        return f"{name}.png"
    tag = "~" + hashlib.sha1(f"{metric}\0{slice_label}".encode()).hexdigest()[:10]
    return shortened(f"{name}{tag}.png")


def shortened(name: str, limit: int = NAME_MAX_BYTES) -> str:
    """`name` within `limit` bytes: its beginning cut short (never half a character), its
    last 15 characters kept (a long chart name's hash tag and .png). `alertbot chat` numbers
    its charts in front ("004-"): a name at the limit did not fit once numbered."""
    if len(name.encode()) <= limit:
        return name
    tail = name[-_TAIL:]
    return name[:-_TAIL].encode()[: limit - len(tail.encode())].decode(errors="ignore") + tail
