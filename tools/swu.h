/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The commands of swu, one function each (their files are named after their concern). */
#include "swu-util.h"

int verb_generate_key(int argc, char **argv);
int verb_create_root_metadata(int argc, char **argv);
int verb_sign_root_metadata(int argc, char **argv);
int verb_inspect_root_metadata(int argc, char **argv);
int verb_create_empty_bundle(int argc, char **argv);
int verb_add_root_metadata_to_bundle(int argc, char **argv);
int verb_add_file_to_bundle(int argc, char **argv);
int verb_sign_bundle(int argc, char **argv);
int verb_publish(int argc, char **argv);
int verb_inspect_bundle(int argc, char **argv);
int verb_verify_bundle(int argc, char **argv);
int verb_export_manifest(int argc, char **argv);
int verb_verify_channel(int argc, char **argv);
