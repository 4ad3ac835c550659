/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Text from bundles and servers is attacker-controlled until verified, and even signed names are
 * quoted in logs, D-Bus properties and terminals. Strings of the wire format must be valid UTF-8
 * without NUL bytes (C code would read a shorter string than the one signed); anything quoted is
 * escaped first, so a newline cannot forge a journal line and invalid UTF-8 cannot break D-Bus.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF, nothing cut short. */
bool swu_utf8_valid(const uint8_t *p, size_t n);

/*
 * Copies @n bytes of @s into @out (@size bytes, NUL-terminated, cut at a whole character or
 * escape), escaping what must not reach a log, D-Bus or a terminal raw: control characters (C0,
 * DEL, C1), invisible format characters (bidi overrides and isolates, zero-width characters,
 * line and paragraph separators) and every byte of invalid UTF-8 become \xNN. Valid printable UTF-8 and backslashes
 * stay as they are, so escaping twice changes nothing. Returns @out.
 */
char *swu_escape(const char *s, size_t n, char *out, size_t size);

/*
 * The length of @s (@n bytes) without a UTF-8 character cut short at its end. Where a fixed buffer
 * cut a message (vsnprintf() reported more than fit), the partial character is dropped there, not
 * turned into \xNN escapes or passed on as invalid UTF-8.
 */
size_t swu_utf8_cut(const char *s, size_t n);

/* Escapes the NUL-terminated @s in place (it may grow up to @size bytes). */
char *swu_escape_inplace(char *s, size_t size);

/* Room for any swu_time_utc() text. */
#define SWU_TIME_UTC_MAX 64
/*
 * @t (seconds since the epoch, as metadata carries them) as a person reads it: "2001-01-01
 * 00:00:00 UTC"; seconds that no calendar year of gmtime() holds stay seconds ("N seconds after
 * 1970-01-01 00:00:00 UTC"). Returns @out.
 */
char *swu_time_utc(int64_t t, char *out, size_t size);
