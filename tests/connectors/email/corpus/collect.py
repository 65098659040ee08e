"""Rebuild this corpus from git mirrors of the source repositories (not run by the tests).

    python tests/connectors/email/corpus/collect.py /path/to/mirrors

`/path/to/mirrors/<owner>+<name>/repo` is a bare clone of each repository in SOURCES. Every file
under the listed folders that is at most MAX_BYTES is copied byte for byte (mail parsers' test
mail is often deliberately broken; nothing is normalised), with the licence file, and a README
naming the repository, the commit and the licence is written per source.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

MAX_BYTES = 200_000
HERE = Path(__file__).resolve().parent

# folder name -> (repository, licence name, licence files, folders to take, file name suffixes or ())
SOURCES: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "mikel-mail": ("mikel/mail", "MIT", ("MIT-LICENSE",), ("spec/fixtures/emails/",), ()),
    "zbateson-mail-mime-parser": ("zbateson/mail-mime-parser", "BSD-2-Clause", ("LICENSE",),
                                  ("tests/_data/emails/m",), (".txt",)),
    "nodemailer-mailparser": ("nodemailer/mailparser", "MIT", ("LICENSE",), ("test/fixtures/",), (".eml",)),
    "spamscope-mail-parser": ("SpamScope/mail-parser", "Apache-2.0", ("LICENSE.txt", "NOTICE.txt"),
                              ("tests/mails/",), ()),
    "jhillyerd-enmime": ("jhillyerd/enmime", "MIT", ("LICENSE",),
                         ("testdata/mail/", "testdata/low-quality/", "dsn/testdata/"), (".raw",)),
    "jstedfast-mimekit": ("jstedfast/MimeKit", "MIT", ("LICENSE",), ("UnitTests/TestData/messages/",), ()),
    "apache-james-mime4j": ("apache/james-mime4j", "Apache-2.0", ("LICENSE", "NOTICE"),
                            ("core/src/test/resources/testmsgs/", "core/src/test/resources/mimetools-testmsgs/"),
                            (".msg",)),
}


def git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", f"--git-dir={repo}", *args], check=True, capture_output=True).stdout


def collect(mirrors: Path) -> int:
    total = 0
    for folder, (name, licence, licence_files, prefixes, suffixes) in SOURCES.items():
        shutil.rmtree(HERE / folder / "mail", ignore_errors=True)
        repo = mirrors / name.replace("/", "+") / "repo"
        commit = git(repo, "rev-parse", "HEAD").decode().strip()
        out = HERE / folder
        out.mkdir(exist_ok=True)
        taken: list[str] = []
        for line in git(repo, "ls-tree", "-r", "--long", commit).decode().splitlines():
            meta, path = line.split("\t", 1)
            kind, size = meta.split()[1], meta.split()[3]
            if kind != "blob" or not size.isdigit() or not 0 < int(size) <= MAX_BYTES:  # "BAD": blob absent
                continue
            if not path.startswith(prefixes) or (suffixes and not path.endswith(suffixes)):
                continue
            folder_of_prefix = next(p for p in prefixes if path.startswith(p)).rsplit("/", 1)[0]
            name_ = folder_of_prefix.rsplit("/", 1)[-1] + "/" + path[len(folder_of_prefix) + 1 :]
            target = out / "mail" / name_.replace("/", "__")
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(git(repo, "show", f"{commit}:{path}"))
            taken.append(path)
        for lic in licence_files:
            (out / lic).write_bytes(git(repo, "show", f"{commit}:{lic}"))
        (out / "README.md").write_text(
            f"# {name}\n\nMail taken unchanged from the test suite of <https://github.com/{name}>,\n"
            f"commit `{commit}`, under its licence ({licence}, see {', '.join(licence_files)}).\n"
            f"Files are named after their path below {', '.join(p.rsplit('/', 1)[0] for p in prefixes)}"
            f" (`/` written as `__`); files over\n"
            f"{MAX_BYTES} bytes were left out. {len(taken)} files.\n",
            encoding="utf-8",
        )
        total += len(taken)
        print(f"{folder}: {len(taken)} files from {name}@{commit[:12]}")
    return total


if __name__ == "__main__":
    print(collect(Path(sys.argv[1])), "files")
