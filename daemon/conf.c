/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "macro.h"
#include "sdboot.h"
#include "url.h"

typedef struct Parser {
	Config *config;
	FILE *file;
	unsigned line;
	unsigned section_line; /* where the last section header was read */
	bool failed;
	char *seen[64]; /* "section\nkey" pairs already given */
	size_t n_seen;
	char *why; /* the first error, as logged */
} Parser;

typedef int (*Setter)(Parser *p, void *field, const char *value);

static void parse_error(Parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void parse_error(Parser *p, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_error("%s:%u: %s", p->config->path, p->line, buf);
	if (!p->why && asprintf(&p->why, "%s:%u: %s", p->config->path, p->line, buf) < 0)
		p->why = NULL;
	p->failed = true;
}

static int set_string(Parser *p, void *field, const char *value)
{
	char **s = field;
	char *d = strdup(value);

	if (!d)
		return -ENOMEM;
	free(*s);
	*s = d;
	return 0;
}

static int set_path(Parser *p, void *field, const char *value)
{
	if (value[0] != '/') {
		parse_error(p, "'%s' is not an absolute path", value);
		return -EINVAL;
	}
	return set_string(p, field, value);
}

static int set_bool(Parser *p, void *field, const char *value)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (strcasecmp(value, yes[i]) == 0)
			return *(bool *)field = true, 0;
		if (strcasecmp(value, no[i]) == 0)
			return *(bool *)field = false, 0;
	}
	parse_error(p, "'%s' is not a boolean (yes or no)", value);
	return -EINVAL;
}

static int set_attempts(Parser *p, void *field, const char *value)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || *end || v < 1 || v > 100 || value[0] == '-') {
		parse_error(p, "BootAttempts must be between 1 and 100, not '%s'", value);
		return -EINVAL;
	}
	*(unsigned *)field = (unsigned)v;
	return 0;
}

static int set_number(Parser *p, const char *value, uint64_t min, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(value, &end, 10);
	if (errno || *end || value[0] == '-' || v < min || v > max) {
		parse_error(p, "'%s' is not a number between %llu and %llu", value,
			    (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int set_seconds(Parser *p, void *field, const char *value)
{
	uint64_t v;
	int r = set_number(p, value, 1, 7 * 24 * 3600, &v);

	if (r >= 0)
		*(unsigned *)field = (unsigned)v;
	return r;
}

static int set_seconds0(Parser *p, void *field, const char *value)
{
	uint64_t v;
	int r = set_number(p, value, 0, 7 * 24 * 3600, &v);

	if (r >= 0)
		*(unsigned *)field = (unsigned)v;
	return r;
}

static int set_retries(Parser *p, void *field, const char *value)
{
	uint64_t v;
	int r = set_number(p, value, 0, 100, &v);

	if (r >= 0)
		*(unsigned *)field = (unsigned)v;
	return r;
}

/* A size in bytes, or with a K, M, G or T suffix (powers of 1024), as systemd writes them. */
static int set_size(Parser *p, void *field, const char *value)
{
	static const char suffixes[] = "KMGT";
	unsigned long long v;
	const char *s;
	char *end;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(value, &end, 10);
	if (end != value && *end && end[1] == 0 && (s = strchr(suffixes, *end)))
		shift = 10 * (unsigned)(s - suffixes + 1), end++;
	if (errno || end == value || *end || value[0] == '-' ||
	    v > ((unsigned long long)INT64_MAX >> shift)) {
		parse_error(p, "'%s' is not a size (bytes, or with K, M, G or T)", value);
		return -EINVAL;
	}
	*(uint64_t *)field = (uint64_t)v << shift;
	return 0;
}

/* An install from Server= shows it as its Source, and status.json keeps that whole. */
#define URL_MAX 1023

static int set_url(Parser *p, void *field, const char *value)
{
	if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) {
		_cleanup_free_ char *shown = NULL;

		/* Logged and served on the bus: without the URL's secrets (url_redact()). */
		if (url_redact(value, &shown) < 0)
			return -ENOMEM;
		parse_error(p, "'%s' is not an http:// or https:// URL", shown);
		return -EINVAL;
	}
	if (strlen(value) > URL_MAX) {
		parse_error(p, "the URL is %zu bytes long, more than the %u allowed", strlen(value),
			    URL_MAX);
		return -EINVAL;
	}
	return set_string(p, field, value);
}

static int set_auto_install(Parser *p, void *field, const char *value)
{
	static const char *const table[_AUTO_INSTALL_MAX] = { "no", "download", "yes" };

	for (int i = 0; i < _AUTO_INSTALL_MAX; i++)
		if (streq(table[i], value))
			return *(AutoInstall *)field = (AutoInstall)i, 0;
	parse_error(p, "AutoInstall must be no, download or yes, not '%s'", value);
	return -EINVAL;
}

static int set_reboot_policy(Parser *p, void *field, const char *value)
{
	if (streq(value, "never") || streq(value, "auto"))
		return *(bool *)field = streq(value, "auto"), 0;
	parse_error(p, "RebootPolicy must be never or auto, not '%s'", value);
	return -EINVAL;
}

static int set_bootloader(Parser *p, void *field, const char *value)
{
	int b = swu_bootloader_from_string(value);

	if (b < 0) {
		parse_error(p,
			    "unknown bootloader '%s' (uboot, grub, systemd-boot, custom or none)",
			    value);
		return -EINVAL;
	}
	*(SwuBootloader *)field = (SwuBootloader)b;
	return 0;
}

static int set_entry_stem(Parser *p, void *field, const char *value)
{
	if (swu_sdboot_check_stem(value) < 0) {
		parse_error(p,
			    "BootEntryStem '%s' must be letters, digits, '_', '-' or '.', at most "
			    "64, not starting with '.' or 'auto-'",
			    value);
		return -EINVAL;
	}
	return set_string(p, field, value);
}

#define FIELD(f) offsetof(Config, f)

static const struct {
	const char *section;
	const char *key;
	Setter set;
	size_t offset;
} keys[] = {
	{ "Update", "Compatible", set_string, FIELD(compatible) },
	{ "Update", "Server", set_url, FIELD(server) },
	{ "Update", "PollIntervalSec", set_seconds, FIELD(poll_interval_sec) },
	{ "Update", "PollJitterSec", set_seconds0, FIELD(poll_jitter_sec) },
	{ "Update", "IdleExitSec", set_seconds0, FIELD(idle_exit_sec) },
	{ "Update", "AutoInstall", set_auto_install, FIELD(auto_install) },
	{ "Update", "RebootPolicy", set_reboot_policy, FIELD(reboot_auto) },
	{ "Update", "StagingDirectory", set_path, FIELD(staging_dir) },
	{ "Update", "MaxBundleSize", set_size, FIELD(max_bundle_size) },
	{ "Update", "MachineIdFile", set_path, FIELD(machine_id_file) },
	{ "Network", "CAFile", set_path, FIELD(ca_file) },
	{ "Network", "ClientCertificate", set_path, FIELD(client_certificate) },
	{ "Network", "ClientKey", set_path, FIELD(client_key) },
	{ "Network", "MaxBytesPerSec", set_size, FIELD(max_bytes_per_sec) },
	{ "Network", "ConnectTimeoutSec", set_seconds, FIELD(connect_timeout_sec) },
	{ "Network", "PollTimeoutSec", set_seconds, FIELD(poll_timeout_sec) },
	{ "Network", "LowSpeedTimeoutSec", set_seconds, FIELD(low_speed_timeout_sec) },
	{ "Network", "Retries", set_retries, FIELD(retries) },
	{ "Network", "DeltaUpdates", set_bool, FIELD(delta_updates) },
	{ "Network", "DeltaCoalesceBytes", set_size, FIELD(delta_coalesce) },
	{ "Trust", "RootMetadata", set_path, FIELD(root_metadata) },
	{ "Trust", "FactoryManifest", set_path, FIELD(factory_manifest) },
	{ "Trust", "RequireVerity", set_bool, FIELD(require_verity) },
	{ "Trust", "StateDirectory", set_path, FIELD(state_dir) },
	{ "Boot", "Bootloader", set_bootloader, FIELD(bootloader) },
	{ "Boot", "BootAttempts", set_attempts, FIELD(boot_attempts) },
	{ "Boot", "SlotParameter", set_string, FIELD(slot_parameter) },
	{ "Boot", "KernelCommandLine", set_path, FIELD(kernel_cmdline) },
	{ "Boot", "BootIdFile", set_path, FIELD(boot_id_file) },
	{ "Boot", "GrubEnvironment", set_path, FIELD(grub_env) },
	{ "Boot", "FwEnvConfig", set_path, FIELD(fw_env_config) },
	{ "Boot", "CustomBackend", set_path, FIELD(custom_backend) },
	{ "Boot", "EfiSystemPartition", set_path, FIELD(esp) },
	{ "Boot", "BootEntryStem", set_entry_stem, FIELD(boot_entry_stem) },
	{ "Boot", "EfiVariableDirectory", set_path, FIELD(efivars) },
};

static bool known_section(const char *section)
{
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		if (streq(keys[i].section, section))
			return true;
	return false;
}

/* [Slot.<target>.<A|B>] Device=... */
static int handle_slot(Parser *p, const char *section, const char *key, const char *value)
{
	const char *target = section + strlen("Slot.");
	const char *dot = strrchr(target, '.');
	Config *c = p->config;
	ConfigSlot *a;
	size_t len;

	if (!dot || dot == target || !(streq(dot, ".A") || streq(dot, ".B"))) {
		parse_error(p, "section [%s] must be named [Slot.<target>.A] or [Slot.<target>.B]",
			    section);
		return -EINVAL;
	}
	len = (size_t)(dot - target);
	if (streq(key, "BootEntry")) {
		bool yes = false;

		if (set_bool(p, &yes, value) < 0)
			return -EINVAL;
		if (!yes)
			return 0;
		value = NULL; /* the path follows from [Boot] once it is all read */
	} else if (!streq(key, "Device")) {
		parse_error(p, "unknown key '%s' in section [%s]", key, section);
		return -EINVAL;
	} else if (value[0] != '/') {
		parse_error(p, "slot device '%s' is not an absolute path", value);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n_slots; i++)
		if (c->slots[i].name == dot[1] && strlen(c->slots[i].target) == len &&
		    strncmp(c->slots[i].target, target, len) == 0) {
			/* the key before this section's header: the section is repeated */
			if (c->slots[i].line < p->section_line)
				parse_error(p, "slot %s.%c is defined twice", c->slots[i].target,
					    dot[1]);
			else
				parse_error(
					p, "section [%s] has both Device= and BootEntry=", section);
			return -EINVAL;
		}
	a = realloc(c->slots, (c->n_slots + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	c->slots = a;
	a[c->n_slots] = (ConfigSlot){ strndup(target, len), dot[1], value ? strdup(value) : NULL,
				      !value, p->line };
	if (!a[c->n_slots].target || (value && !a[c->n_slots].device))
		return -ENOMEM;
	c->n_slots++;
	return 0;
}

bool config_channel_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > CHANNEL_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '_' ||
		      name[i] == '.'))
			return false;
	return true;
}

/* [Channels] NAME=URL */
static int handle_channel(Parser *p, const char *key, const char *value)
{
	Config *c = p->config;
	ConfigChannel *a;
	char *url = NULL;
	int r;

	if (!config_channel_name_valid(key)) {
		parse_error(p, "channel name '%s' is not 1 to %d letters, digits, '-', '_' or '.'",
			    key, CHANNEL_NAME_MAX);
		return -EINVAL;
	}
	r = set_url(p, &url, value);
	if (r < 0)
		return r;
	a = realloc(c->channels, (c->n_channels + 1) * sizeof(*a));
	if (!a) {
		free(url);
		return -ENOMEM;
	}
	c->channels = a;
	a[c->n_channels] = (ConfigChannel){ strdup(key), url };
	if (!a[c->n_channels].name) {
		free(url);
		return -ENOMEM;
	}
	c->n_channels++;
	return 0;
}

/* Remembers section+key; a key given twice is an error, not a silent override. */
static int check_once(Parser *p, const char *section, const char *key)
{
	char *id = NULL;

	if (asprintf(&id, "%s\n%s", section, key) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_seen; i++)
		if (streq(p->seen[i], id)) {
			free(id);
			parse_error(p, "key '%s' given twice in section [%s]", key, section);
			return -EINVAL;
		}
	if (p->n_seen >= ELEMENTSOF(p->seen)) {
		free(id);
		parse_error(p, "too many keys");
		return -EINVAL;
	}
	p->seen[p->n_seen++] = id;
	return 0;
}

/* Drops a trailing " # comment": comments may follow values, systemd-style files have none. */
static void strip_comment(char *value)
{
	for (char *s = value; *s; s++)
		if (*s == '#' && s > value && (s[-1] == ' ' || s[-1] == '\t')) {
			*s = 0;
			while (s > value && (s[-1] == ' ' || s[-1] == '\t'))
				*--s = 0;
			return;
		}
}

static int handler(void *user, const char *section, const char *key, const char *raw)
{
	Parser *p = user;
	_cleanup_free_ char *value = strdup(raw ? raw : "");
	int r;

	if (!value)
		return 0;
	strip_comment(value);
	if (!key) /* a section header alone */
		return 1;
	r = check_once(p, section, key);
	if (r < 0)
		return 1;
	if (!*value) {
		parse_error(p, "key '%s' in section [%s] has no value", key, section);
		return 1;
	}
	if (strncmp(section, "Slot.", 5) == 0) {
		r = handle_slot(p, section, key, value);
		return r == -ENOMEM ? 0 : 1;
	}
	if (streq(section, "Channels")) {
		r = handle_channel(p, key, value);
		return r == -ENOMEM ? 0 : 1;
	}
	if (!known_section(section)) {
		parse_error(p, "unknown section [%s]", section);
		return 1;
	}
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		if (streq(keys[i].section, section) && streq(keys[i].key, key)) {
			r = keys[i].set(p, (char *)p->config + keys[i].offset, value);
			return r == -ENOMEM ? 0 : 1;
		}
	parse_error(p, "unknown key '%s' in section [%s]", key, section);
	return 1;
}

/*
 * Lines for inih, counted. libinih reads into a buffer of its own size (INI_MAX_LINE, 200 bytes
 * in Debian's build) and would take a longer line cut, and its rest as the next line: a cut
 * value is another value (a URL, a path). Such a line is an error, and inih gets an empty one.
 */
static char *reader(char *str, int num, void *stream)
{
	Parser *p = stream;
	char *s = fgets(str, num, p->file);
	int c;

	if (!s)
		return NULL;
	p->line++;
	if (s[strspn(s, " \t")] == '[')
		p->section_line = p->line;
	if (strchr(s, '\n') || (c = getc(p->file)) == EOF || c == '\n')
		return s; /* whole (a line that just fit: its newline read here) */
	parse_error(p, "the line is longer than %d bytes", num - 1);
	while ((c = getc(p->file)) != EOF && c != '\n')
		;
	return strcpy(str, "\n");
}

static int set_default(char **field, const char *value)
{
	if (*field)
		return 0;
	*field = strdup(value);
	return *field ? 0 : -ENOMEM;
}

static int apply_defaults(Config *c)
{
	int r = 0;

	r = r ?: set_default(&c->root_metadata, "/usr/lib/swupdated/root.pb");
	r = r ?: set_default(&c->factory_manifest, "/usr/lib/swupdated/manifest.pb");
	r = r ?: set_default(&c->state_dir, "/var/lib/swupdated");
	r = r ?: set_default(&c->slot_parameter, "swupdated.slot");
	r = r ?: set_default(&c->kernel_cmdline, "/proc/cmdline");
	r = r ?: set_default(&c->boot_id_file, "/proc/sys/kernel/random/boot_id");
	r = r ?: set_default(&c->machine_id_file, "/etc/machine-id");
	r = r ?: set_default(&c->grub_env, "/boot/grub/grubenv");
	r = r ?: set_default(&c->fw_env_config, "/etc/fw_env.config");
	r = r ?: set_default(&c->custom_backend, "/usr/libexec/swupdated-boot");
	r = r ?: set_default(&c->staging_dir, "/var/lib/swupdated/staging");
	r = r ?: set_default(&c->esp, "/boot/efi");
	r = r ?: set_default(&c->boot_entry_stem, "swupdated");
	r = r ?: set_default(&c->efivars, "/sys/firmware/efi/efivars");
	for (size_t i = 0; r >= 0 && i < c->n_slots; i++)
		if (c->slots[i].boot_entry &&
		    asprintf(&c->slots[i].device, "%s/EFI/Linux/%s-%c.efi", c->esp,
			     c->boot_entry_stem, c->slots[i].name) < 0)
			r = -ENOMEM;
	return r;
}

/*
 * systemd-boot switches by renaming the UKI of a slot: exactly one target has its slots as boot
 * entries there, and boot entries exist only there.
 */
static void validate_boot_entries(Parser *p)
{
	Config *c = p->config;
	const char *target = NULL;

	for (size_t i = 0; i < c->n_slots; i++) {
		const ConfigSlot *s = &c->slots[i];

		const ConfigSlot *o = config_find_slot(c, s->target, s->name == 'A' ? 'B' : 'A');

		if (!s->boot_entry)
			continue;
		p->line = s->line;
		if (o && !o->boot_entry)
			parse_error(p,
				    "slot %s.%c is a boot entry, slot %s.%c a device: both or "
				    "neither",
				    s->target, s->name, o->target, o->name);
		else if (c->bootloader != SWU_BOOT_SYSTEMD_BOOT)
			parse_error(p,
				    "slot %s.%c is a boot entry, which only "
				    "Bootloader=systemd-boot has",
				    s->target, s->name);
		else if (target && !streq(target, s->target))
			parse_error(p,
				    "slots of targets '%s' and '%s' are both boot entries; one "
				    "target holds the UKIs",
				    target, s->target);
		target = s->target;
	}
	if (c->bootloader == SWU_BOOT_SYSTEMD_BOOT && !target) {
		p->line = 0;
		log_error("%s: Bootloader=systemd-boot needs the slots of a target as boot entries "
			  "([Slot.<target>.A] and [Slot.<target>.B] with BootEntry=yes)",
			  c->path);
		p->failed = true;
	}
}

/* Whole-file rules: pairs complete, one device per slot, devices not directories. */
static void validate(Parser *p)
{
	Config *c = p->config;

	if (!c->compatible) {
		p->line = 0;
		log_error("%s: [Update] Compatible= is required", c->path);
		p->failed = true;
	}
	if (c->n_slots == 0) {
		log_error("%s: no [Slot.<target>.A] and [Slot.<target>.B] sections", c->path);
		p->failed = true;
	}
	validate_boot_entries(p);
	for (size_t i = 0; i < c->n_slots; i++) {
		const ConfigSlot *s = &c->slots[i];
		struct stat st;

		p->line = s->line;
		if (!config_find_slot(c, s->target, s->name == 'A' ? 'B' : 'A'))
			parse_error(p, "target '%s' has slot %c but no slot %c", s->target, s->name,
				    s->name == 'A' ? 'B' : 'A');
		if (s->boot_entry)
			continue; /* its file is renamed: the slot is known by its name */
		if (stat(s->device, &st) == 0 && S_ISDIR(st.st_mode))
			parse_error(p, "slot device '%s' is a directory", s->device);
		for (size_t j = 0; j < i; j++) {
			if (!c->slots[j].boot_entry && swu_slot_same(c->slots[j].device, s->device))
				parse_error(p, "slot %s.%c uses device '%s', already used by %s.%c",
					    s->target, s->name, s->device, c->slots[j].target,
					    c->slots[j].name);
			if (c->slots[j].name == s->name && streq(c->slots[j].target, s->target))
				parse_error(p, "slot %s.%c is defined twice", s->target, s->name);
		}
	}
}

int config_load(const char *path, Config **ret)
{
	return config_load_why(path, ret, NULL);
}

int config_load_why(const char *path, Config **ret, char **ret_why)
{
	Parser p = {};
	Config *c;
	int r;

	assert_return(path && ret, -EINVAL);
	if (ret_why)
		*ret_why = NULL;
	c = p.config = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->path = strdup(path);
	c->bootloader = SWU_BOOT_NONE;
	c->boot_attempts = 3;
	c->require_verity = true;
	c->poll_interval_sec = 3600;
	c->poll_jitter_sec = 600;
	c->idle_exit_sec = 30;
	c->auto_install = AUTO_INSTALL_YES;
	c->connect_timeout_sec = 30;
	c->poll_timeout_sec = 300;
	c->low_speed_timeout_sec = 60;
	c->retries = 5;
	c->delta_updates = true;
	c->delta_coalesce = 32 * 1024;
	p.file = fopen(path, "re");
	if (!c->path || !p.file) {
		r = -errno ?: -ENOMEM;
		log_error("Cannot read configuration '%s': %s", path, strerror(-r));
		if (ret_why &&
		    asprintf(ret_why, "Cannot read configuration '%s': %s", path, strerror(-r)) < 0)
			*ret_why = NULL;
		config_free(c);
		return r;
	}
	r = ini_parse_stream(reader, &p, handler, &p);
	fclose(p.file);
	if (r < 0 || (r > 0 && !p.failed)) {
		/* inih's own syntax errors: a line that is neither section nor key=value. */
		p.line = r > 0 ? (unsigned)r : p.line;
		parse_error(&p, "syntax error (expected [Section] or Key=Value)");
	}
	if (!p.failed)
		validate(&p);
	for (size_t i = 0; i < p.n_seen; i++)
		free(p.seen[i]);
	if (p.failed || apply_defaults(c) < 0) {
		config_free(c);
		if (ret_why)
			*ret_why = TAKE_PTR(p.why);
		free(p.why);
		return -EINVAL;
	}
	free(p.why);
	*ret = c;
	return 0;
}

Config *config_free(Config *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_slots; i++) {
		free(c->slots[i].target);
		free(c->slots[i].device);
	}
	free(c->slots);
	for (size_t i = 0; i < c->n_channels; i++) {
		free(c->channels[i].name);
		free(c->channels[i].url);
	}
	free(c->channels);
	free(c->path);
	free(c->compatible);
	free(c->root_metadata);
	free(c->factory_manifest);
	free(c->state_dir);
	free(c->slot_parameter);
	free(c->kernel_cmdline);
	free(c->boot_id_file);
	free(c->machine_id_file);
	free(c->grub_env);
	free(c->fw_env_config);
	free(c->custom_backend);
	free(c->esp);
	free(c->boot_entry_stem);
	free(c->efivars);
	free(c->server);
	free(c->staging_dir);
	free(c->ca_file);
	free(c->client_certificate);
	free(c->client_key);
	free(c);
	return NULL;
}

const ConfigChannel *config_find_channel(const Config *c, const char *name)
{
	assert_return(c && name, NULL);
	for (size_t i = 0; i < c->n_channels; i++)
		if (streq(c->channels[i].name, name))
			return &c->channels[i];
	return NULL;
}

const ConfigSlot *config_find_slot(const Config *c, const char *target, char name)
{
	assert_return(c && target, NULL);
	for (size_t i = 0; i < c->n_slots; i++)
		if (c->slots[i].name == name && streq(c->slots[i].target, target))
			return &c->slots[i];
	return NULL;
}

int config_unreadable_file(const Config *c, size_t *next, const char **ret_key,
			   const char **ret_path)
{
	const struct {
		const char *key, *path;
	} files[] = {
		{ "CAFile", c->ca_file },
		{ "ClientCertificate", c->client_certificate },
		{ "ClientKey", c->client_key },
	};

	assert_return(c && next && ret_key && ret_path, -EINVAL);
	for (; *next < ELEMENTSOF(files); (*next)++)
		if (files[*next].path && access(files[*next].path, R_OK) < 0) {
			*ret_key = files[*next].key;
			*ret_path = files[(*next)++].path;
			return -errno;
		}
	return 0;
}

SwuBootConfig config_boot(const Config *c)
{
	return (SwuBootConfig){
		.type = c->bootloader,
		.attempts = c->boot_attempts,
		.grub_env = c->grub_env,
		.fw_env_config = c->fw_env_config,
		.custom = c->custom_backend,
		.esp = c->esp,
		.entry_stem = c->boot_entry_stem,
		.efivars = c->efivars,
	};
}
