/**
 * @file eval.h
 * @brief `anomalog eval LOG LABELS.json [--json]`: replays a log with
 *        labelled incidents and scores the findings (see src/analyze/eval.c).
 */
#ifndef ANOMALOG_EVAL_H
#define ANOMALOG_EVAL_H

#include "anomalog/config.h"

/**
 * argv[0] is "eval"; argc counts it. cfg->db is set to a temporary file when
 * --db was not given. Prints the scorecard on stdout.
 * @return 0 when scored, 1 when the replay failed, 2 on bad arguments or labels.
 */
int eval_main(config *cfg, int argc, char **argv);

#endif
