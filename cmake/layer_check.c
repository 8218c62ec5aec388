/*
 * layer_check.c — the main() of each anomalog_<room>_layer program
 * (CMakeLists.txt): the room's whole archive is linked into it with only the
 * rooms below it, so a call up a floor is an undefined reference at build
 * time. The program is never run.
 */
int main(void)
{
    return 0;
}
