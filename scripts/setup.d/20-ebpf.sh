#!/usr/bin/env bash
# tracefs for the `ebpf` and `perf` scheduler backends (tracepoint ids and formats), and bcc with
# kernel headers. The ebpf backend no longer uses bcc (its programs are assembled bytecode loaded
# with bpf(), pyprof_carbon/sched/bpf_asm.py); bcc stays only as a tool for checking tracepoints
# by hand (docs/attribution.md, "Scheduler backends"). bcc is Debian's python3-bpfcc (a
# pure-Python package over libbcc.so) and needs kernel headers for its compiler. This VM's kernel ships
# none, so the distribution's headers are linked in as /lib/modules/$(uname -r)/{build,source}:
# tracepoint programs only need the generic headers (their argument layout comes from tracefs).
# Idempotent and quiet; needs root. Without it the backend says why and `--sched auto` falls back.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "setup: not root, skipping the eBPF backend (bcc + kernel headers)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
need=""
for p in bpfcc-tools python3-bpfcc linux-headers-amd64; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
rel=$(uname -r)
mods=/lib/modules/$rel
# The arch headers of the newest installed Debian kernel (they include ../linux-headers-*-common).
hdr=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$hdr" ]; then
  echo "setup: no /usr/src/linux-headers-*-amd64 after installing linux-headers-amd64" >&2
  exit 1
fi
# Debian's own layout: build = the arch dir, source = the common dir it includes.
common=$(readlink -f "/lib/modules/${hdr#/usr/src/linux-headers-}/source" 2>/dev/null || true)
[ -n "$common" ] && [ -d "$common" ] || common=$(ls -d "${hdr%-amd64}-common" 2>/dev/null || echo "$hdr")
mkdir -p "$mods"
for pair in "build:$hdr" "source:$common"; do
  l=${pair%%:*} target=${pair#*:}
  if [ -L "$mods/$l" ] || [ ! -e "$mods/$l" ]; then
    ln -sfn "$target" "$mods/$l"
  fi
done
# The sched_switch tracepoint's id and format (perf backend) and bcc's view of it (it also looks
# under debugfs) come from tracefs, which this VM does not mount at boot.
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
mountpoint -q /sys/kernel/debug || mount -t debugfs nodev /sys/kernel/debug
echo "setup: eBPF backend: bcc $(dpkg-query -W -f='${Version}' python3-bpfcc), headers $hdr -> $mods/build"
