/*
 * layer_check.c — the one source of each anomalog_<room>_layer shared object
 * (CMakeLists.txt): the room's whole archive is linked into it with
 * --no-undefined against the rooms below it only, so a call up a floor is an
 * undefined reference at build time. It defines nothing and is never loaded.
 */
typedef int anomalog_layer_check_unused;
