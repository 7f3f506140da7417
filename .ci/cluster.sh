#!/usr/bin/env bash
# Start or stop two throwaway ClickHouse servers on 127.0.0.1 as the two shards of one cluster,
# `alertbot_cluster`: each has its own data folder, and both know the cluster (remote_servers),
# so a Distributed table on either one reads and writes both.
#   .ci/cluster.sh start DIR HTTP_PORT_1 HTTP_PORT_2   -> prints the shards' URLs, comma-separated
#   .ci/cluster.sh stop DIR
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?data folder}
here=$(cd "$(dirname "$0")" && pwd)
case "$cmd" in
start)
    ports=("${3:?HTTP port of shard 1}" "${4:?HTTP port of shard 2}")
    # clickhouse.sh puts each server's native (TCP) port at its HTTP port + 877; shards talk TCP.
    replicas=""
    for port in "${ports[@]}"; do
        replicas+="<shard><replica><host>127.0.0.1</host><port>$((port + 877))</port></replica></shard>"
    done
    pids=()
    for i in 1 2; do
        shard="$dir/shard$i"
        mkdir -p "$shard/config.d"
        # Merged into config.xml by the server (a config.d folder beside the main file).
        printf '<?xml version="1.0"?>\n<yandex><remote_servers><alertbot_cluster>%s</alertbot_cluster></remote_servers></yandex>\n' \
            "$replicas" > "$shard/config.d/remote_servers.xml"
        "$here/clickhouse.sh" start "$shard" "${ports[$((i - 1))]}" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done  # set -e: a shard that failed fails the start
    echo "http://127.0.0.1:${ports[0]},http://127.0.0.1:${ports[1]}"
    ;;
stop)
    for i in 1 2; do "$here/clickhouse.sh" stop "$dir/shard$i" || true; done
    ;;
*) echo "usage: $0 start DIR HTTP_PORT_1 HTTP_PORT_2 | stop DIR" >&2; exit 2 ;;
esac
