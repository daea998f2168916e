#!/usr/bin/env bash
# Writes mqbase(1) in roff to stdout, generated from the binary's own help: `mqbase --help`
# and every subcommand's `--help` (and their subcommands'), so the man page never disagrees
# with the CLI. Usage: scripts/manpage.sh path/to/mqbase > mqbase.1
set -euo pipefail
bin="${1:?usage: scripts/manpage.sh path/to/mqbase}"
version="$("$bin" --version | awk '{print $2}')"

# roff: a leading . or ' would be a request, and \ an escape.
roff() { sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/" -e "s|$bin|mqbase|g"; }

# The subcommands listed under "Subcommands:" of a help text.
subcommands() { awk '/^Subcommands:/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{on=0}'; }

top="$("$bin" --help)"
cat <<HEAD
.TH MQBASE 1 "" "mqbase $version" "User Commands"
.SH NAME
mqbase \\- MQTT broker and time-series database in one server
.SH SYNOPSIS
.B mqbase
.I command
.RI [ options ]
.SH DESCRIPTION
mqbase is an MQTT 3.1, 3.1.1 and 5.0 broker that stores telemetry published to it in
compressed time-series tables, queried in SQL over HTTP, over MQTT and from this command.
Run it with
.B mqbase serve
(see
.B SERVE
below); the other commands are clients and tools.
.PP
.nf
$(printf '%s\n' "$top" | roff)
.fi
HEAD
for cmd in $(printf '%s\n' "$top" | subcommands); do
  help="$("$bin" "$cmd" --help)"
  echo ".SH ${cmd^^}"
  echo ".nf"
  printf '%s\n' "$help" | roff
  echo ".fi"
  for sub in $(printf '%s\n' "$help" | subcommands); do
    echo ".SS $cmd $sub"
    echo ".nf"
    "$bin" "$cmd" "$sub" --help | roff
    echo ".fi"
  done
done
cat <<'TAIL'
.SH FILES
.TP
.I /etc/mqbase/mqbase.toml
the configuration read by the systemd unit (mqbase config check checks it)
.TP
.I /var/lib/mqbase
the data directory under systemd: the write-ahead log, sessions and tables
.SH SIGNALS
SIGTERM and SIGINT stop the server in order. SIGHUP reloads TLS certificates, the password,
ACL, JWT-key and SCRAM files, and reopens the log file.
.SH SEE ALSO
.BR mosquitto_pub (1),
.BR mosquitto_sub (1),
.BR mosquitto_passwd (1).
The documentation in docs/ of the source: configuration.md, security.md, operations.md, sql.md.
TAIL
