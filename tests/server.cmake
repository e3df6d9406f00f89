# aero serve through real clients on 127.0.0.1: curl (HTTP, SSE, limits, durability), the
# official openai npm package, the ws package, and the chat page in headless Chromium via
# playwright-core. Two fixtures: a tiny chat model trained in seconds, and the npm packages.
set(AERO_SERVER_TESTS ${CMAKE_CURRENT_SOURCE_DIR}/server)
set(AERO_SERVER_MODEL ${CMAKE_CURRENT_BINARY_DIR}/server_model)

add_test(NAME server.setup_model
         COMMAND bash ${AERO_SERVER_TESTS}/make_model.sh $<TARGET_FILE:aero> ${AERO_SERVER_MODEL})
set_tests_properties(server.setup_model PROPERTIES FIXTURES_SETUP aero_server_model
                     LABELS "server;slow" TIMEOUT 300)
add_test(NAME server.setup_npm COMMAND bash ${AERO_SERVER_TESTS}/npm_setup.sh)
set_tests_properties(server.setup_npm PROPERTIES FIXTURES_SETUP aero_server_npm
                     LABELS "server;slow" TIMEOUT 600 RESOURCE_LOCK aero_server_npm)

set(AERO_SERVER_RUN $<TARGET_FILE:aero> ${AERO_SERVER_MODEL}/run)
# replicas, replicas_kill, pg_outage: PostgreSQL, replicas and nginx (deploy/aero-nginx.conf)
# started by the scripts on loopback ports (tests/server/replica_lib.sh); single_kill: the same
# load and kill -9 on one SQLite replica.
foreach(t http_api auth_limits durability replicas replicas_kill pg_outage single_kill)
  string(REPLACE "_" "-" done_marker ${t})
  add_test(NAME server.${t} COMMAND bash ${AERO_SERVER_TESTS}/${t}.sh ${AERO_SERVER_RUN})
  set_tests_properties(server.${t} PROPERTIES FIXTURES_REQUIRED "aero_server_model;aero_server_npm"
                       LABELS "server;slow" TIMEOUT 300 PASS_REGULAR_EXPRESSION "${done_marker}-ok")
endforeach()

# JavaScript clients: run_node.sh starts a server with a key and runs the script.
set(AERO_SERVER_NODE_openai_client "")
set(AERO_SERVER_NODE_ws_client --max-batch 1 --max-queue 150)
set(AERO_SERVER_NODE_web_page "")
set(AERO_SERVER_NODE_queue_full --max-batch 1 --max-queue 1)
foreach(t openai_client ws_client web_page queue_full)
  add_test(NAME server.${t}
           COMMAND bash ${AERO_SERVER_TESTS}/run_node.sh ${AERO_SERVER_RUN}
                   ${AERO_SERVER_TESTS}/${t}.mjs ${AERO_SERVER_NODE_${t}})
  set_tests_properties(server.${t} PROPERTIES FIXTURES_REQUIRED "aero_server_model;aero_server_npm"
                       LABELS "server;slow" TIMEOUT 300 PASS_REGULAR_EXPRESSION "${t}-ok")
endforeach()

# Unit tests of the pure parts (parsing, keys, limits, sessions, metrics) and of the scheduler
# thread with clients on their own threads.
add_executable(aero_server_tests ${AERO_SERVER_TESTS}/test_server_units.cpp
                                 ${AERO_SERVER_TESTS}/test_scheduler.cpp)
target_link_libraries(aero_server_tests PRIVATE aero_lib GTest::gtest GTest::gtest_main)
gtest_discover_tests(aero_server_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)

# The PostgreSQL store's unit tests, against a cluster the script starts.
add_test(NAME server.pg_units
         COMMAND bash ${AERO_SERVER_TESTS}/pg_units.sh $<TARGET_FILE:aero_server_tests>)
set_tests_properties(server.pg_units PROPERTIES LABELS "server" TIMEOUT 120
                     PASS_REGULAR_EXPRESSION "pg-units-ok")
