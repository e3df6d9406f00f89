#!/usr/bin/env bash
# The PostgreSQL store's unit tests (ServerPg.* in test_server_units.cpp) against a throwaway
# cluster on a loopback port.
#   pg_units.sh AERO_SERVER_TESTS_BINARY
BIN=$(realpath "$1")
A=/bin/true MODEL=/  # lib.sh wants them; no aero serve here
HERE=$(dirname "$(realpath "$0")")
source "$HERE/lib.sh"
source "$HERE/replica_lib.sh"
start_pg
AERO_TEST_PG_URL=$PGURL "$BIN" --gtest_also_run_disabled_tests --gtest_filter='ServerPg.*' \
  || fail "ServerPg tests failed"
echo "pg-units-ok"
