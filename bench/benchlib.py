"""What bench/compare.sh and bench/durability.sh say about the machine and the build they
measured, shared by the Python the two scripts run for their tables."""

import subprocess


def version(cmd):
    """The first line a command prints (stdout and stderr), or "?" when it cannot run."""
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=10).stdout.decode().split("\n")[0].strip()
    except Exception:
        return "?"


def machine(root):
    """(CPU model, number of CPUs, the tree's short commit with a note when src/ has
    uncommitted changes) for the figures' heading."""
    model = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    nproc = subprocess.run(["nproc"], stdout=subprocess.PIPE).stdout.decode().strip()
    rev = version(["git", "-C", root, "rev-parse", "--short", "HEAD"])
    if version(["git", "-C", root, "status", "--porcelain", "--", "src"]) not in ("", "?"):
        rev += " with uncommitted changes in src/"
    return model, nproc, rev
