"""File names a chart is saved or sent under: the metric and its slice, safe on any file
system (`check --charts`, the terminal chat's charts, a photo's name in Telegram)."""

from __future__ import annotations

import hashlib
import re

__all__ = ["NAME_MAX_BYTES", "chart_file_name"]

# Characters file systems refuse or treat specially (Windows' set, path separators, controls),
# and what the name's readable form replaces ("=" and spaces).
_UNSAFE = re.compile(r'[<>:"/\\|?*=\s\x00-\x1f\x7f]')
NAME_MAX_BYTES = 255  # the common file name limit (ext4, APFS, NTFS in characters)


def chart_file_name(metric: str, slice_label: str) -> str:
    """The PNG's file name for a metric's slice, e.g. views__country_Belarus.png: characters a
    file system refuses or treats specially become "_", and a name over 255 bytes (a long
    Cyrillic slice value) is cut short and ends in a hash of the whole label, so slices that
    share a long beginning keep apart."""
    name = _UNSAFE.sub("_", f"{metric}__{slice_label}")
    if len(name.encode()) + len(".png") <= NAME_MAX_BYTES:
        return f"{name}.png"
    tag = "~" + hashlib.sha1(f"{metric}\0{slice_label}".encode()).hexdigest()[:10]
    room = NAME_MAX_BYTES - len(tag) - len(".png")
    cut = name.encode()[:room].decode(errors="ignore")  # never half a character
    return f"{cut}{tag}.png"
