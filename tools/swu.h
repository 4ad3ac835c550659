/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The commands of swu, one function each (their files are named after their concern), with the
 * options each parses: the command table's usage must name every one (swu.c checks).
 */
#include <getopt.h>

#include "swu-signer.h"
#include "swu-util.h"

int verb_generate_key(int argc, char **argv);
int verb_create_root_metadata(int argc, char **argv);
int verb_sign_root_metadata(int argc, char **argv);
int verb_inspect_root_metadata(int argc, char **argv);
int verb_create_empty_bundle(int argc, char **argv);
int verb_add_root_metadata_to_bundle(int argc, char **argv);
int verb_add_file_to_bundle(int argc, char **argv);
int verb_sign_bundle(int argc, char **argv);
int verb_renew_bundle(int argc, char **argv);
int verb_publish(int argc, char **argv);
int verb_timestamp(int argc, char **argv);
int verb_rollout(int argc, char **argv);
int verb_inspect_bundle(int argc, char **argv);
int verb_verify_bundle(int argc, char **argv);
int verb_export_manifest(int argc, char **argv);
int verb_verify_channel(int argc, char **argv);
int verb_merge_signatures(int argc, char **argv);

extern const struct option verb_generate_key_options[];
extern const struct option verb_create_root_metadata_options[];
extern const struct option verb_sign_root_metadata_options[];
extern const struct option verb_inspect_root_metadata_options[];
extern const struct option verb_create_empty_bundle_options[];
extern const struct option verb_add_root_metadata_to_bundle_options[];
extern const struct option verb_add_file_to_bundle_options[];
extern const struct option verb_sign_bundle_options[];
extern const struct option verb_renew_bundle_options[];
extern const struct option verb_publish_options[];
extern const struct option verb_timestamp_options[];
extern const struct option verb_rollout_options[];
extern const struct option verb_inspect_bundle_options[];
extern const struct option verb_verify_bundle_options[];
extern const struct option verb_export_manifest_options[];
extern const struct option verb_verify_channel_options[];
extern const struct option verb_merge_signatures_options[];
