# Process-wide settings seen from the command line.

# Under OMP_PROC_BIND libgomp binds the main thread to one CPU as it loads, before main(); aero
# must still count every CPU the process may use (it used one thread there, at half speed).
add_test(NAME core.threads_under_omp_proc_bind
         COMMAND bash -c "set -eu; A=$<TARGET_FILE:aero>
threads() { sed -n 's/^  \"threads\": \\([0-9]*\\),*$/\\1/p'; }
plain=$($A doctor --json --no-measure | threads)
bound=$(OMP_PROC_BIND=true $A doctor --json --no-measure | threads)
echo \"threads: $plain, with OMP_PROC_BIND=true: $bound\"
test -n \"$plain\" && test \"$plain\" = \"$bound\"")
set_tests_properties(core.threads_under_omp_proc_bind PROPERTIES LABELS cli)
