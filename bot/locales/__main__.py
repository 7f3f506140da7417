"""Keeps the catalogues in step with the code (needs Babel: `pip install -e ".[dev]"`).

    python -m bot.locales            extract the messages from bot/, add new ones to every .po
                                     (English gets its own text), drop the ones no longer used,
                                     and compile every .po into its .mo
    python -m bot.locales --check    exit 1, naming them, when a message has no translation or a
                                     .mo is older than its .po (what the tests run)
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from bot.core.i18n import DOMAINS, LANGUAGES, LOCALES

ROOT = LOCALES.parent  # bot/
KEYWORDS = {"_": None, "ngettext": (1, 2)}
FIELD = re.compile(r"{(\w*)[^{}]*}")


def domain_of(path: Path) -> str:
    """Which catalogue a source file's messages go to."""
    rel = path.relative_to(ROOT).as_posix()
    if rel == "service/charts.py" or rel.startswith("service/charts"):
        return "charts"
    if rel.startswith("chat/") or rel in ("core/commands.py", "core/help.py"):
        return "chat"
    return "alerts"


def templates() -> dict[str, Catalog]:
    """Every message marked in bot/, per domain."""
    out = {d: Catalog(domain=d, fuzzy=False) for d in DOMAINS}
    for path in sorted(ROOT.rglob("*.py")):
        if "locales" in path.relative_to(ROOT).parts:
            continue
        rel = path.relative_to(ROOT.parent).as_posix()
        for lineno, message, _comments, _context in extract_from_file(
            "python", str(path), keywords=KEYWORDS
        ):
            if isinstance(message, tuple) and any(m is None for m in message):
                continue
            if message is None:
                continue
            out[domain_of(path)].add(message, locations=[(rel, lineno)],
                                     flags=("python-brace-format",))  # fmt: skip
    return out


def po_path(lang: str, domain: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{domain}.po"


def read(path: Path, lang: str, domain: str) -> Catalog:
    if path.exists():
        with path.open("rb") as f:
            return read_po(f, locale=lang, domain=domain)
    return Catalog(locale=lang, domain=domain, fuzzy=False, project="metric-alertbot",
                   copyright_holder="metric-alertbot")


def missing(catalog: Catalog) -> Iterator[str]:
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings) or message.fuzzy:
            yield str(message.id[0] if isinstance(message.id, tuple) else message.id)


def fields(text: object) -> set[str]:
    return set(FIELD.findall(str(text)))


def mismatched(catalog: Catalog) -> Iterator[str]:
    """Translations whose {fields} differ from the message's (they would raise or lose data)."""
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set().union(*(fields(i) for i in ids))
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for s in strings:
            if s and not fields(s) <= wanted | {"n"}:
                yield str(ids[0])


def update(only: str | None = None) -> None:
    for lang in LANGUAGES:
        # Fresh templates per language: Babel's update() may share message objects with them.
        for domain, template in templates().items():
            if only is not None and domain != only:
                continue
            path = po_path(lang, domain)
            catalog = read(path, lang, domain)
            created = catalog.creation_date
            catalog.update(template, no_fuzzy_matching=True)
            catalog.creation_date = created  # a stable header: the file changes with its texts
            catalog.obsolete.clear()
            if lang == "en":
                for message in catalog:
                    if message.id and not all(message.string if isinstance(message.string,
                                                                           tuple) else
                                              (message.string,)):  # fmt: skip
                        message.string = message.id
            path.parent.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            write_po(buf, catalog, width=100, sort_output=True, include_lineno=False)
            path.write_bytes(buf.getvalue())
            compile_mo(path, lang, domain)


def compile_mo(path: Path, lang: str, domain: str) -> None:
    catalog = read(path, lang, domain)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    path.with_suffix(".mo").write_bytes(buf.getvalue())


def problems() -> list[str]:
    """What is wrong with the catalogues against the code, in sentences (empty: all fine)."""
    out: list[str] = []
    for domain, template in templates().items():
        wanted = {m.id for m in template if m.id}
        for lang in LANGUAGES:
            path = po_path(lang, domain)
            catalog = read(path, lang, domain)
            have = {m.id for m in catalog if m.id}
            for msg in sorted(map(str, wanted - have)):
                out.append(f"{path}: not in the catalogue: {msg!r}")
            for msg in missing(catalog):
                out.append(f"{path}: no translation: {msg!r}")
            for msg in mismatched(catalog):
                out.append(f"{path}: the translation's {{fields}} differ from: {msg!r}")
            mo = path.with_suffix(".mo")
            buf = io.BytesIO()
            write_mo(buf, catalog)
            if path.exists() and (not mo.exists() or mo.read_bytes() != buf.getvalue()):
                out.append(f"{mo}: out of date: run python -m bot.locales")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.locales", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report what is missing")
    parser.add_argument("--domain", choices=DOMAINS, help="update only this catalogue")
    args = parser.parse_args(argv)
    if not args.check:
        update(args.domain)
    found = problems()
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} problems; translate the messages in the .po files, then run "
              "python -m bot.locales", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
