#!/usr/bin/env bash
# Start or stop a throwaway ClickHouse server on 127.0.0.1 with its own data folder.
#   .ci/clickhouse.sh start DIR [HTTP_PORT]   -> prints nothing, waits until it answers
#   .ci/clickhouse.sh stop DIR
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?data folder}
http_port=${3:-8123}
tcp_port=$((http_port + 877))
here=$(cd "$(dirname "$0")" && pwd)
case "$cmd" in
start)
    mkdir -p "$dir"/{log,data,tmp,user_files,format_schemas}
    sed -e "s#@DIR@#$dir#g" -e "s#@HTTP_PORT@#$http_port#g" -e "s#@TCP_PORT@#$tcp_port#g" \
        "$here/clickhouse-config.xml" > "$dir/config.xml"
    cp "$here/clickhouse-users.xml" "$dir/users.xml"
    server=$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)
    nohup "$server" --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
    echo $! > "$dir/server.pid"
    for _ in $(seq 1 120); do
        if curl -fsS "http://127.0.0.1:$http_port/?query=SELECT%201" >/dev/null 2>&1; then
            exit 0
        fi
        if ! kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
            echo "clickhouse-server exited; its log:" >&2
            tail -n 40 "$dir/log/stdout.log" "$dir/log/server.err.log" >&2 || true
            exit 1
        fi
        sleep 0.5
    done
    echo "clickhouse-server did not answer on port $http_port within 60 s" >&2
    exit 1
    ;;
stop)
    if [ -f "$dir/server.pid" ]; then
        pid=$(cat "$dir/server.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/server.pid"
    fi
    ;;
*) echo "usage: $0 start|stop DIR [HTTP_PORT]" >&2; exit 2 ;;
esac
