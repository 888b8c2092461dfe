#!/usr/bin/env bash
# redis-server on cistern: started on a free loopback port, loaded by
# redis-benchmark (SET, GET, LPUSH, LPOP from 50 clients), then checked with
# redis-cli: a value set and read back, a 1 MiB value, a 50,000-element list
# sent through a pipeline.  The server must shut down cleanly; it is killed
# at exit whatever happens.

# shellcheck source-path=SCRIPTDIR source=common.sh
. "${srcdir:-$(dirname "$0")/../..}/tests/programs/common.sh"

need_program redis-server redis-cli redis-benchmark
server=$prog
cli=$(program_path redis-cli)
bench=$(program_path redis-benchmark)
need_library
make_tmpdir

pid=
# shellcheck disable=SC2317  # called by cleanup at exit
cleanup_hook() {
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.5
    done
    kill -9 "$pid" 2>/dev/null
}

# rcli ARGS...: redis-cli on the test's server; its stderr goes to cli.err.
rcli() {
    timeout 60 "$cli" -h 127.0.0.1 -p "$port" "$@" 2>>"$tmp/cli.err"
}

# start_server PORT: start redis-server on PORT; 0 once it accepts
# connections, 1 if the port was taken, 2 on any other failure.
start_server() {
    port=$1
    preload_exec "$server" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$tmp" --daemonize no --logfile '' >"$tmp/server.out" 2>"$tmp/server.err" &
    pid=$!
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null
            pid=
            grep -q 'Address already in use' "$tmp/server.out" && return 1
            return 2
        fi
        grep -q 'Ready to accept connections' "$tmp/server.out" && return 0
        sleep 0.1
    done
    return 2
}

plan 7

started=2
for _ in 1 2 3 4 5 6 7 8 9 10; do
    start_server $((20000 + RANDOM % 40000))
    started=$?
    [ "$started" -eq 1 ] || break
done
ok "$started" "redis-server is up on 127.0.0.1:$port" || {
    show "$tmp/server.out"
    show "$tmp/server.err"
    bail "redis-server did not start"
}

timeout 120 "$bench" -h 127.0.0.1 -p "$port" -q -n 20000 -t set,get,lpush,lpop \
    >"$tmp/bench.out" 2>"$tmp/bench.err"
status=$?
missing=
for t in SET GET LPUSH LPOP; do
    grep -aqE "(^|[[:cntrl:]])$t: [0-9.]+ requests per second" "$tmp/bench.out" ||
        missing="$missing $t"
done
[ "$status" -eq 0 ] && [ -z "$missing" ]
ok $? "redis-benchmark ran SET, GET, LPUSH and LPOP (status $status${missing:+, missing:$missing})" ||
    { show "$tmp/bench.out"; show "$tmp/bench.err"; }

value="cistern-$$-$RANDOM"
set=$(rcli SET cistern:key "$value")
got=$(rcli GET cistern:key)
[ "$set" = OK ] && [ "$got" = "$value" ]
ok $? "SET then GET returns the value" || { diag "SET: $set" "GET: $got"; show "$tmp/cli.err"; }

head -c 1048576 /dev/zero | tr '\0' x >"$tmp/big"
rcli -x SET cistern:big <"$tmp/big" >/dev/null
got="$(rcli STRLEN cistern:big) $(rcli GETRANGE cistern:big 1048570 -1)"
[ "$got" = "1048576 xxxxxx" ]
ok $? "a 1 MiB value is stored whole" || { diag "got: $got"; show "$tmp/cli.err"; }

for ((i = 0; i < 50000; i++)); do
    # shellcheck disable=SC2016  # RESP: the $ are literal
    printf '*3\r\n$5\r\nRPUSH\r\n$12\r\ncistern:list\r\n$%d\r\nitem-%d\r\n' $((5 + ${#i})) "$i"
done >"$tmp/pipe"
rcli --pipe <"$tmp/pipe" >"$tmp/pipe.out"
got="$(rcli LLEN cistern:list) $(rcli LINDEX cistern:list 12345)"
[ "$got" = "50000 item-12345" ]
ok $? "a 50,000-element list sent through a pipeline is whole" ||
    { diag "got: $got"; show "$tmp/pipe.out"; show "$tmp/cli.err"; }

rcli SHUTDOWN NOSAVE >/dev/null
for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
    ok 1 "redis-server shut down cleanly (still running after SHUTDOWN)"
else
    wait "$pid"
    status=$?
    pid=
    ok "$status" "redis-server shut down cleanly (status $status)" || show "$tmp/server.err"
fi

check_marker "$tmp/server.err" redis-server
done_testing
