"""The invariants of every rendered supervisor program, whichever kind renders it: checked on
the files as rendered, so a template edit that breaks them is caught by lint (and refused by
every converge task's lint gate)."""

from __future__ import annotations

from queueops.lint.findings import Finding

# The rules on rendered program files: id → title (docs/lint.md explains each).
RULES: dict[str, str] = {
    "QO103": "autorestart=true in every rendered program",
    "QO105": "numprocs > 1 needs %(process_num) in process_name",
    "QO106": "rendered programs run as a non-root user",
}


def _sections(text: str) -> list[tuple[str, dict[str, str]]]:
    """The [program:…] sections of a supervisor file: (name, {key: value})."""
    sections: list[tuple[str, dict[str, str]]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith((";", "#")):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            header = stripped[1:-1].strip()
            if header.startswith("program:"):
                current = {}
                sections.append((header.removeprefix("program:"), current))
            else:
                current = None
        elif current is not None and "=" in stripped:
            key, value = stripped.split("=", 1)
            current[key.strip()] = value.strip()
    return sections


def lint_program_file(host: str, template: str, path: str, text: str) -> list[Finding]:
    """QO103, QO105, QO106 on one rendered supervisor program file.

    `template` is the template it was rendered from (templates/…), which is what to fix;
    `path` is where the file goes on the host.
    """
    findings: list[Finding] = []
    file = f"templates/{template}"

    def add(rule: str, name: str, key: str, message: str, fix: str) -> None:
        findings.append(Finding(rule, "error", host, file, f"[program:{name}].{key}", message, fix))

    for name, values in _sections(text):
        where = f"{path}: [program:{name}]"
        autorestart = values.get("autorestart")
        if autorestart is None or autorestart.lower() != "true":
            shown = "is not set" if autorestart is None else f"is {autorestart}"
            add(
                "QO103",
                name,
                "autorestart",
                f"{where}: autorestart {shown}: since Supervisor 4.0 the default is "
                "`unexpected` with exitcodes 0, so a worker that exits 0 after queue:restart, "
                "--max-time or horizon:terminate is never started again and its queues stop",
                f"render autorestart=true in {file}",
            )
        numprocs = values.get("numprocs", "1")
        process_name = values.get("process_name", "%(program_name)s")
        if numprocs.isdigit() and int(numprocs) > 1 and "%(process_num)" not in process_name:
            add(
                "QO105",
                name,
                "process_name",
                f"{where}: numprocs={numprocs} but process_name={process_name} has no "
                "%(process_num): supervisor refuses the program, so none of its workers run",
                f"render process_name=%(program_name)s_%(process_num)02d in {file}",
            )
        user = values.get("user")
        if user is None or user == "root":
            shown = "is not set (supervisord's own user, root)" if user is None else "is root"
            add(
                "QO106",
                name,
                "user",
                f"{where}: user {shown}: jobs run as root, and files they create "
                "(logs, cache, storage) become unwritable for the web user, so later jobs "
                "and requests fail",
                f"render user= with the validated user or the platform's web user in {file}",
            )
    return findings
