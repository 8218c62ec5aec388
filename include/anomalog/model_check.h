/**
 * @file model_check.h
 * @brief `anomalog model check`: probes the configured model server and says
 *        what it found and the settings analysis will use with it.
 */
#ifndef ANOMALOG_MODEL_CHECK_H
#define ANOMALOG_MODEL_CHECK_H

#include "anomalog/config.h"

/**
 * `anomalog model check [--json]`. argv[0] is "model"; argc counts it.
 * Prints on stdout (text, or one JSON object with --json).
 * @return 0 when the server answers, has the model and its answer is a valid
 *         verdict; 1 when it is not usable; 2 on a bad argument.
 */
int model_main(const config *cfg, int argc, char **argv);

#endif
