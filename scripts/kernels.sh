#!/usr/bin/env bash
# Idempotent fetch of Debian's stock kernels for the kernel matrix test (test/matrix): 6.1, 6.12 and
# 6.12 PREEMPT_RT. Each is resolved to the current Debian package (the names move with Debian's
# updates), downloaded with `apt-get download` (no install: no initramfs hooks, nothing in /boot),
# and reduced to what a qemu guest needs:
#
#   .cache/kernels/<release>/vmlinuz        the kernel
#   .cache/kernels/<release>/config         its build configuration (PREEMPT_RT, module options)
#   .cache/kernels/<release>/modules/*.ko   the modules the guest loads, decompressed (busybox insmod
#                                           takes plain .ko only)
#   .cache/kernels/<release>/modules.load   their file names in load order (dependencies first)
#   .cache/kernels/manifest.json            what the test reads: label, release, package, paths
#
# Also installs the host tools the test uses (qemu, busybox-static, cpio, xz, zstd, kmod) when
# missing. A kernel already extracted from the same package version is kept. When the package lists
# cannot be read (offline), the kernels already in the cache are used. Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="${NSLAT_KERNELS_DIR:-$PWD/.cache/kernels}"
# Modules the guest may load (virtio NICs, netem for a known delay, veth and tbf for local pairs);
# missing ones are skipped, built-in ones need nothing.
MODULES=(virtio_pci virtio_net sch_netem sch_tbf veth)

log() { echo "kernels: $*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { log "not root and no sudo: run as root, or install sudo"; exit 1; }
  SUDO="sudo"
fi

updated=0
apt_update() {
  if [ "$updated" -eq 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq
    updated=1
  fi
}

# ------------------------------------------------------------------ host tools
tools=(qemu-system-x86 busybox-static cpio xz-utils zstd kmod iproute2 gcc libc6-dev)
missing=()
for p in "${tools[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || { log "missing packages (${missing[*]}) and no apt-get: install them with your package manager"; exit 1; }
  log "installing ${missing[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ------------------------------------------------------------------ resolve packages
# Each label follows a Debian meta-package (linux-image-amd64 -> linux-image-6.1.0-NN-amd64, ...);
# when the lists lack one, the highest version of the matching image packages is taken. The package
# downloaded is the image's -unsigned build when Debian has one (the same kernel without the Secure
# Boot signature), else the image package itself. Few apt-cache calls: each one reads every list.
LABELS=(6.1 6.12 6.12-rt)
declare -A META=([6.1]=linux-image-amd64 [6.12]=linux-image-6.12-amd64 [6.12-rt]=linux-image-6.12-rt-amd64)
declare -A PATTERN=([6.1]='^linux-image-6\.1\.0-[0-9]+-amd64$' [6.12]='^linux-image-6\.12\.[0-9]+\+deb12-amd64$'
  [6.12-rt]='^linux-image-6\.12\.[0-9]+\+deb12-rt-amd64$')
declare -A PKG VER
resolve_all() {
  local l img deps cands
  deps="$(apt-cache depends "${META[@]}" 2>/dev/null || true)"
  for l in "${LABELS[@]}"; do
    img="$(printf '%s\n' "$deps" | awk -v m="${META[$l]}" '/^[^ ]/ {cur = $1} cur == m && $1 == "Depends:" {print $2}' | grep -E "${PATTERN[$l]}" | head -n 1 || true)"
    [ -n "$img" ] || img="$(apt-cache search --names-only "${PATTERN[$l]}" 2>/dev/null | awk '{print $1}' | sort -V | tail -n 1 || true)"
    PKG[$l]="$img"
  done
  # Candidate versions of the -unsigned builds and of the images, in one call.
  local names=()
  for l in "${LABELS[@]}"; do [ -z "${PKG[$l]}" ] || names+=("${PKG[$l]}-unsigned" "${PKG[$l]}"); done
  [ ${#names[@]} -gt 0 ] || return 0
  cands="$(apt-cache policy "${names[@]}" 2>/dev/null | awk '/^[^ ]/ {sub(":$", "", $1); cur = $1} /^ *Candidate:/ && $2 != "(none)" {print cur, $2}' || true)"
  for l in "${LABELS[@]}"; do
    [ -n "${PKG[$l]}" ] || continue
    local u v
    u="$(printf '%s\n' "$cands" | awk -v p="${PKG[$l]}-unsigned" '$1 == p {print $2}')"
    v="$(printf '%s\n' "$cands" | awk -v p="${PKG[$l]}" '$1 == p {print $2}')"
    if [ -n "$u" ]; then PKG[$l]="${PKG[$l]}-unsigned"; VER[$l]="$u"
    elif [ -n "$v" ]; then VER[$l]="$v"
    else PKG[$l]=""; fi
  done
}
resolve_all
if [ -z "${PKG[6.1]}" ] || [ -z "${PKG[6.12]}" ] || [ -z "${PKG[6.12-rt]}" ]; then
  if apt_update; then resolve_all; else log "apt-get update failed"; fi
fi

mkdir -p "$DIR"
TMP="$(mktemp -d "$DIR/.tmp.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# ------------------------------------------------------------------ download and extract
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }

# Reduces one extracted package (in $2) to the cache layout; $1 is the label, $3 the package, $4 its version.
reduce() {
  local label="$1" root="$2" pkg="$3" ver="$4" rel out kmods
  rel="$(basename "$(ls -d "$root"/lib/modules/* | head -n 1)")"
  [ -f "$root/boot/vmlinuz-$rel" ] || { log "$pkg: no boot/vmlinuz-$rel in the package"; return 1; }
  out="$DIR/$rel"
  rm -rf "$out.new"
  mkdir -p "$out.new/modules"
  cp "$root/boot/vmlinuz-$rel" "$out.new/vmlinuz"
  cp "$root/boot/config-$rel" "$out.new/config" 2>/dev/null || : >"$out.new/config"
  kmods="$root/lib/modules/$rel"
  [ -f "$kmods/modules.dep" ] || depmod -b "$root" "$rel"
  : >"$out.new/modules.load"
  local m line f base
  for m in "${MODULES[@]}"; do
    # "insmod /path/x.ko[.xz]" lines in load order; "builtin x" for built-in modules.
    while read -r line; do
      case "$line" in
        insmod\ *)
          f="${line#insmod }"
          f="${f%% *}"
          base="$(basename "$f")"
          base="${base%.xz}"
          base="${base%.zst}"
          grep -qxF "$base" "$out.new/modules.load" && continue
          case "$f" in
            *.xz) xz -dc "$f" >"$out.new/modules/$base" ;;
            *.zst) zstd -q -dc "$f" >"$out.new/modules/$base" ;;
            *) cp "$f" "$out.new/modules/$base" ;;
          esac
          echo "$base" >>"$out.new/modules.load"
          ;;
      esac
    done < <(modprobe --show-depends -S "$rel" -d "$root" "$m" 2>/dev/null || true)
  done
  printf 'package=%s\nversion=%s\nlabel=%s\n' "$pkg" "$ver" "$label" >"$out.new/stamp"
  rm -rf "$out"
  mv "$out.new" "$out"
  log "$label: $pkg $ver -> $rel ($(wc -l <"$out/modules.load") modules: $(tr '\n' ' ' <"$out/modules.load"))"
}

# Finds the cache dir of a label whose stamp matches package and version (echoes its release).
cached() {
  local s
  for s in "$DIR"/*/stamp; do
    [ -f "$s" ] || continue
    if grep -qxF "package=$2" "$s" && grep -qxF "version=$3" "$s" && grep -qxF "label=$1" "$s" && [ -f "$(dirname "$s")/vmlinuz" ]; then
      basename "$(dirname "$s")"
      return 0
    fi
  done
  return 1
}
# The newest cached release of a label (offline fallback).
cached_any() {
  local s best=""
  for s in "$DIR"/*/stamp; do
    [ -f "$s" ] && grep -qxF "label=$1" "$s" && [ -f "$(dirname "$s")/vmlinuz" ] && best="$(basename "$(dirname "$s")")"
  done
  [ -n "$best" ] && echo "$best"
}

declare -A REL
fetch=()
for l in "${LABELS[@]}"; do
  p="${PKG[$l]}"
  if [ -z "$p" ]; then
    if r="$(cached_any "$l")"; then
      log "$l: package lists do not name a kernel; using the cached $r"
      REL[$l]="$r"
      PKG[$l]="$(sed -n 's/^package=//p' "$DIR/$r/stamp")"
      VER[$l]="$(sed -n 's/^version=//p' "$DIR/$r/stamp")"
      continue
    fi
    log "$l: no Debian kernel package found (is this Debian 12 with bookworm and bookworm-security in its sources?)"
    exit 1
  fi
  if r="$(cached "$l" "$p" "${VER[$l]}")"; then
    REL[$l]="$r"
  else
    fetch+=("$l")
  fi
done

if [ ${#fetch[@]} -gt 0 ]; then
  names=()
  for l in "${fetch[@]}"; do names+=("${PKG[$l]}"); done
  log "downloading ${names[*]}"
  sandbox=()
  [ "$(id -u)" -ne 0 ] || sandbox=(-o APT::Sandbox::User=root)
  (cd "$TMP" && apt-get download -qq "${sandbox[@]}" "${names[@]}")
  pids=()
  for l in "${fetch[@]}"; do
    deb="$(ls "$TMP/${PKG[$l]}"_*.deb | head -n 1)"
    mkdir -p "$TMP/x-$l"
    (dpkg-deb -x "$deb" "$TMP/x-$l" && rm -f "$deb" && reduce "$l" "$TMP/x-$l" "${PKG[$l]}" "${VER[$l]}" && rm -rf "$TMP/x-$l") &
    pids+=($!)
  done
  failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" -eq 0 ] || { log "extracting a kernel package failed"; exit 1; }
  for l in "${fetch[@]}"; do
    REL[$l]="$(cached "$l" "${PKG[$l]}" "${VER[$l]}")" || { log "$l: extraction failed"; exit 1; }
  done
else
  log "up to date: $(for l in "${LABELS[@]}"; do printf '%s=%s ' "$l" "${REL[$l]}"; done)"
fi

# Older releases of the same labels are removed (the cache holds one kernel per label).
for s in "$DIR"/*/stamp; do
  [ -f "$s" ] || continue
  r="$(basename "$(dirname "$s")")"
  keep=0
  for l in "${LABELS[@]}"; do [ "${REL[$l]}" = "$r" ] && keep=1; done
  if [ "$keep" -eq 0 ]; then log "removing the superseded $r"; rm -rf "${DIR:?}/$r"; fi
done

# ------------------------------------------------------------------ manifest
{
  printf '{\n  "generated_by": "scripts/kernels.sh",\n  "kernels": [\n'
  sep=""
  for l in "${LABELS[@]}"; do
    r="${REL[$l]}"
    rt=false
    grep -qx 'CONFIG_PREEMPT_RT=y' "$DIR/$r/config" && rt=true
    mods="$(sed -e 's/.*/"&"/' "$DIR/$r/modules.load" | paste -sd, -)"
    printf '%s    {"label": %s, "release": %s, "package": %s, "version": %s, "dir": %s, "vmlinuz": "vmlinuz", "config": "config", "preempt_rt": %s, "modules": [%s]}' \
      "$sep" "$(json_str "$l")" "$(json_str "$r")" "$(json_str "${PKG[$l]}")" "$(json_str "${VER[$l]}")" "$(json_str "$r")" "$rt" "$mods"
    sep=$',\n'
  done
  printf '\n  ]\n}\n'
} >"$TMP/manifest.json"
mv "$TMP/manifest.json" "$DIR/manifest.json"
log "manifest: $DIR/manifest.json"
