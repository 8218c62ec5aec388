/**
 * @file tzone.h
 * @brief A named IANA time zone (`Europe/Berlin`) for timestamps written
 *        without a zone, DST-correct, from the system's tzdata.
 *
 * The zone is loaded once, by the configuration, before any thread starts;
 * afterwards the table is read-only and every function here is safe on any
 * thread. Fixed offsets (`+02:00`, `UTC`) do not come here: they stay an
 * integer offset (see tz_offset_parse in timeutil.h).
 */
#ifndef ANOMALOG_TZONE_H
#define ANOMALOG_TZONE_H

#include <stddef.h>
#include <stdint.h>

/** The value of a config's tz_offset_s that means "the loaded named zone" (not an offset any zone has). */
#define TZONE_NAMED (-0x7fff0000)

/**
 * Loads zone `name` (`Area/Location` or `UTC`-like names of the tz
 * database) and makes it the process's named zone. Call before threads start.
 * @return 0, or -1 with err filled (an unknown zone, a name with "..").
 */
int tzone_load(const char *name, char *err, size_t errlen);

/** The loaded zone's name, or "" when none is loaded. */
const char *tzone_name(void);

/** Offset from UTC (seconds east) in force at UTC second t. 0 when no zone is loaded. */
int tzone_offset_at_utc(int64_t t);

/**
 * Offset to subtract from a wall-clock time of the loaded zone (seconds
 * since the epoch as if that wall clock were UTC) to get UTC. A time that
 * occurs twice (the hour clocks go back) is read as its first occurrence
 * (still daylight time); a time that does not occur (the hour clocks skip)
 * is read with the offset before the change, so 02:30 on a spring-forward
 * night lands at the instant the clocks read 03:30.
 */
int tzone_offset_for_local(int64_t local);

#endif
