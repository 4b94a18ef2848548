"""What the package carries for a bot started without files of its own: the commented `app.yaml` and the runbooks
it names (`runbooks/`, relative to it). `incident-bot init` copies both into a folder to edit.

They live here, inside the package, so that an installed bot has them wherever it runs; the repository's root
`app.yaml` and `runbooks` are links to these, for working from a clone. Package data is read from the file system:
setuptools installs wheels unzipped, and the runbook engine reads a folder.
"""

from __future__ import annotations

from pathlib import Path

DEFAULTS_DIR = Path(__file__).resolve().parent
DEFAULT_APP_YAML = DEFAULTS_DIR / "app.yaml"
DEFAULT_RUNBOOKS = DEFAULTS_DIR / "runbooks"


class WouldOverwrite(Exception):
    """`copy_defaults` found files of the same names already there: it wrote nothing."""

    def __init__(self, existing: list[Path]) -> None:
        super().__init__(", ".join(str(path) for path in existing))
        self.existing = existing


def copy_defaults(directory: Path) -> list[Path]:
    """Write the packaged `app.yaml` and `runbooks/` into `directory` (made if missing); the paths written.

    Never overwrites: if any of those files is there already, raises `WouldOverwrite` naming them all, before
    writing anything. Each file is created exclusively, so one made meanwhile is not overwritten either; if writing
    fails part way (a full disk, a file made meanwhile), what was written is removed again: nothing half-created.
    """
    sources = [DEFAULT_APP_YAML, *sorted(DEFAULT_RUNBOOKS.glob("*.md"))]
    targets = [directory / source.relative_to(DEFAULTS_DIR) for source in sources]
    existing = [target for target in targets if target.exists() or target.is_symlink()]
    if existing:
        raise WouldOverwrite(existing)
    made_dirs = [folder for folder in (directory, directory / "runbooks") if not folder.exists()]
    written: list[Path] = []
    try:
        for folder in made_dirs:
            folder.mkdir(parents=True)
        for source, target in zip(sources, targets, strict=True):
            with target.open("xb") as out:  # "x": fails if it exists
                written.append(target)
                out.write(source.read_bytes())
    except BaseException:
        for path in reversed(written):
            path.unlink(missing_ok=True)
        for folder in reversed(made_dirs):
            if folder.exists() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    return written
