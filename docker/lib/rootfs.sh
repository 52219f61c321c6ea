# shellcheck shell=bash
# Helpers to assemble a minimal container root filesystem from the HOST's own
# binaries (no registry, no package download): each program is copied together
# with the shared libraries `ldd` reports, at the same paths, so the result runs
# the exact binaries the host runs. Sourced by local-base-image.sh and
# labs/strongswan/local-image.sh.

# rootfs_init DIR: an empty tree with the merged-/usr layout and the few
# files every program expects (/etc/passwd for "root", /tmp, /run).
rootfs_init() {
    local root=$1
    rm -rf "$root"
    mkdir -p "$root"/usr/bin "$root"/usr/sbin "$root"/usr/lib "$root"/usr/lib64 \
        "$root"/etc "$root"/tmp "$root"/run "$root"/var/run "$root"/proc "$root"/sys "$root"/dev "$root"/root
    ln -s usr/bin "$root/bin"
    ln -s usr/sbin "$root/sbin"
    ln -s usr/lib "$root/lib"
    ln -s usr/lib64 "$root/lib64"
    chmod 1777 "$root/tmp"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
    printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
}

# The path a host file has inside the merged-/usr tree (/lib/x -> /usr/lib/x).
_rootfs_dest() {
    case $1 in
        /bin/*|/sbin/*|/lib/*|/lib64/*) echo "/usr$1" ;;
        *) echo "$1" ;;
    esac
}

# rootfs_copy_file DIR FILE: copy FILE (dereferenced) to the same path in DIR;
# if FILE is a symlink, also keep the link's name (libfoo.so.1 -> libfoo.so.1.2).
rootfs_copy_file() {
    local root=$1 src=$2 dest
    dest=$root$(_rootfs_dest "$src")
    [ -e "$dest" ] && return 0
    mkdir -p "$(dirname "$dest")"
    cp -L --preserve=mode "$src" "$dest"
}

# rootfs_add_libs DIR FILE...: the shared libraries (and loader) FILE needs.
rootfs_add_libs() {
    local root=$1 f lib
    shift
    for f in "$@"; do
        # ldd prints "libx.so => /path (addr)" or "/lib64/ld-linux... (addr)"; static files print nothing useful.
        for lib in $(ldd "$f" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
            [ -e "$lib" ] && rootfs_copy_file "$root" "$lib"
        done
    done
}

# rootfs_add_programs DIR NAME_OR_PATH...: programs (found on PATH) plus their libraries.
rootfs_add_programs() {
    local root=$1 p path
    shift
    for p in "$@"; do
        path=$(command -v "$p" 2>/dev/null || true)
        case $path in /*) ;; *) echo "rootfs: $p not found on this host" >&2; return 1 ;; esac
        rootfs_copy_file "$root" "$path"
        rootfs_add_libs "$root" "$path"
    done
}

# rootfs_add_tree DIR PATH...: copy whole directories (data files, plugins) as they are.
rootfs_add_tree() {
    local root=$1 p dest
    shift
    for p in "$@"; do
        [ -e "$p" ] || continue
        dest=$root$(_rootfs_dest "$p")
        mkdir -p "$(dirname "$dest")"
        cp -a "$p" "$(dirname "$dest")/"
    done
}

# rootfs_digest DIR: a short content hash, used as the image tag so an
# unchanged host gives the same tag (and the import is skipped).
rootfs_digest() {
    (cd "$1" && find . \( -type f -o -type l \) -print0 | LC_ALL=C sort -z \
        | xargs -0 sha256sum 2>/dev/null; find . -type l -printf '%p -> %l\n' | LC_ALL=C sort) \
        | sha256sum | cut -c1-12
}

# rootfs_import DIR REPO [docker import -c CHANGE]...: import DIR as REPO:<digest>
# unless that tag already exists; prints the tag.
rootfs_import() {
    local root=$1 repo=$2 tag
    shift 2
    tag="$repo:$( { rootfs_digest "$root"; printf '%s\n' "$@"; } | sha256sum | cut -c1-12)"
    if ! docker image inspect "$tag" >/dev/null 2>&1; then
        tar --numeric-owner --owner=0 --group=0 -C "$root" -c . | docker import "$@" - "$tag" >/dev/null
    fi
    echo "$tag"
}
