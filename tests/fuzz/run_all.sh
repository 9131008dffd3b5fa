#!/bin/sh
# Runs every target in turn, one job at a time: up to 10 million executions or SECONDS
# seconds each, whichever comes first. Logs go to LOGDIR/<target>.log.
# Usage: ./run_all.sh [SECONDS] [LOGDIR] [TARGET...]
set -u
cd "$(dirname "$0")"
seconds=${1:-0}
logdir=${2:-logs}
shift 2 2>/dev/null || shift $#
targets=${*:-"heads entry signed_message sync_message codec_framing roster_toml config_toml import_line x3p"}
mkdir -p "$logdir"
for target in $targets; do
    case $target in
        x3p | sync_message | codec_framing) max_len=16384 ;;
        *) max_len=4096 ;;
    esac
    start=$(date +%s)
    cargo fuzz run "$target" --sanitizer none --release -- \
        -runs=10000000 -max_len=$max_len -rss_limit_mb=2048 \
        -max_total_time="$seconds" -print_final_stats=1 > "$logdir/$target.log" 2>&1
    echo "$target exit=$? wall=$(( $(date +%s) - start ))s" >> "$logdir/summary.txt"
done
