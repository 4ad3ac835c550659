/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <systemd/sd-journal.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "manifest.h"
#include "state.h"
#include "verity.h"

static const char *const update_state_table[] = {
	[UPDATE_IDLE] = "idle",
	[UPDATE_PENDING_REBOOT] = "pending-reboot",
	[UPDATE_PENDING_CONFIRMATION] = "pending-confirmation",
};

const char *update_state_to_string(UpdateState s)
{
	return update_state_table[s];
}

static char other_slot(char s)
{
	return s == 'A' ? 'B' : 'A';
}

static int read_text(const char *path, size_t max, char **ret)
{
	uint8_t *data = NULL;
	size_t size;
	int r;

	r = swu_read_file(path, max, &data, &size);
	if (r < 0)
		return r;
	data[size] = 0;
	*ret = (char *)data;
	return 0;
}

int manager_new(Config *config, Manager **ret)
{
	_cleanup_free_ char *cmdline = NULL, *boot_id = NULL;
	Manager *m = calloc(1, sizeof(*m));
	_cleanup_free_ SwuSlot *slots = NULL;
	struct stat root;
	int r;

	if (!m)
		return -ENOMEM;
	m->config = config;
	r = swu_context_new(&m->ctx);
	if (r < 0) {
		manager_free(m);
		return r;
	}
	log_set_context(m->ctx);

	r = read_text(config->boot_id_file, 256, &boot_id);
	if (r < 0) {
		log_error_errno(r, "Cannot read the boot ID from '%s'", config->boot_id_file);
		manager_free(m);
		return r;
	}
	boot_id[strcspn(boot_id, "\n")] = 0;
	snprintf(m->boot_id, sizeof(m->boot_id), "%s", boot_id);

	r = read_text(config->kernel_cmdline, 64 * 1024, &cmdline);
	if (r < 0)
		log_warning_errno(r, "Cannot read the kernel command line '%s'",
				  config->kernel_cmdline);
	slots = calloc(config->n_slots + 1, sizeof(*slots));
	if (!slots) {
		manager_free(m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < config->n_slots; i++)
		slots[i] = (SwuSlot){ config->slots[i].target, config->slots[i].name,
				      config->slots[i].device };
	r = stat("/", &root);
	if (swu_slot_booted(m->ctx, cmdline, config->slot_parameter, r == 0 ? root.st_dev : 0,
			    slots, config->n_slots, &m->booted) < 0) {
		m->booted = 0;
		snprintf(m->booted_error, sizeof(m->booted_error), "%s",
			 swu_context_get_failure(m->ctx)->message);
	}
	*ret = m;
	return 0;
}

Manager *manager_free(Manager *m)
{
	if (!m)
		return NULL;
	log_set_context(NULL);
	config_free(m->config);
	swu_context_unref(m->ctx);
	free(m);
	return NULL;
}

/* Lifecycle events as structured journal entries, one MESSAGE_ID per action (journalctl -o verbose). */
static const struct {
	const char *action;
	const char *message_id;
} message_ids[] = {
	{ "install", "5b1c2d0e8f7a4c0b9e3d6a1f2c4b7e90" },
	{ "mark-good", "a7e3c91b52d84f0e8c6b1d2e3f4a5b61" },
	{ "mark-bad", "c2d4e6f8a0b24c6e8a0c2e4f6a8b0c12" },
	{ "rollback", "e91f3a5c7b9d4e1f8a2c4e6a8c0e2f34" },
	{ "root-rotation", "1f2e3d4c5b6a47988776655443322110" },
};

static void journal_event(const SwuHistoryEntry *e)
{
	const char *id = NULL;
	char slot[2] = { e->slot, 0 };

	if (!getenv("JOURNAL_STREAM"))
		return; /* not under systemd: the log line on stderr says it */
	for (size_t i = 0; i < ELEMENTSOF(message_ids); i++)
		if (streq(message_ids[i].action, e->action))
			id = message_ids[i].message_id;
	if (!id)
		return;
	(void)sd_journal_send("MESSAGE=%s %s: version %u -> %u, slot %s%s%s", e->action, e->result,
			      e->from_version, e->to_version, slot[0] ? slot : "-",
			      e->reason && *e->reason ? ": " : "", e->reason ? e->reason : "",
			      "MESSAGE_ID=%s", id, "PRIORITY=%i",
			      streq(e->result, "success") ? LOG_NOTICE : LOG_WARNING,
			      "SWUPDATED_ACTION=%s", e->action, "SWUPDATED_RESULT=%s", e->result,
			      "SWUPDATED_FROM_VERSION=%u", e->from_version, "SWUPDATED_VERSION=%u",
			      e->to_version, "SWUPDATED_SLOT=%s", slot, NULL);
}

void manager_history(Manager *m, const char *action, uint32_t from, uint32_t to, char slot,
		     const char *result, const char *reason)
{
	SwuHistoryEntry e = { time(NULL), action, from, to, slot, result, reason };
	int r;

	journal_event(&e);
	r = swu_state_append_history(m->ctx, m->config->state_dir, &e);
	if (r < 0)
		log_warning_errno(r, "Cannot record history");
}

static int load_pending(Manager *m, SwuPending *ret)
{
	int r = swu_state_load_pending(m->ctx, m->config->state_dir, ret);

	if (r == -EBADMSG) {
		/* A torn or damaged record cannot be trusted to name a slot: drop it. */
		log_warning_errno(r, "Ignoring the pending install record");
		(void)swu_state_clear_pending(m->ctx, m->config->state_dir);
		return -ENOENT;
	}
	return r;
}

static UpdateState state_of(const Manager *m, const SwuPending *p)
{
	if (streq(p->boot_id, m->boot_id))
		return UPDATE_PENDING_REBOOT;
	return m->booted == p->slot ? UPDATE_PENDING_CONFIRMATION : UPDATE_IDLE;
}

int manager_reconcile(Manager *m)
{
	SwuPending p = {};
	int r;

	r = load_pending(m, &p);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return log_error_errno(r, "Cannot read the pending install");
	if (m->booted && state_of(m, &p) == UPDATE_IDLE) {
		/* Rebooted, but not into the new slot: the bootloader fell back. */
		log_warning("Rollback: slot %c (version %u) did not boot, running slot %c", p.slot,
			    p.version, m->booted);
		SwuBootConfig boot = config_boot(m->config);

		manager_history(m, "rollback", p.from_version, p.version, p.slot, "rolled-back",
				"the new slot did not boot; the bootloader fell back");
		/* Keep the bootloader from trying the failed slot again. */
		r = swu_boot_mark_bad(m->ctx, &boot, p.slot, m->booted);
		if (r < 0)
			log_warning_errno(r, "Cannot mark slot %c bad", p.slot);
		r = swu_state_clear_pending(m->ctx, m->config->state_dir);
	}
	swu_pending_done(&p);
	return r;
}

uint32_t manager_manifest_version(SwuContext *ctx, const uint8_t *p, size_t n)
{
	_cleanup_(swu_manifest_freep) SwuManifest *m = NULL;
	const SwuTargetsMetadata *t;

	if (!p || swu_manifest_decode(ctx, p, n, &m) < 0)
		return 0;
	t = swu_manifest_get_targets(m);
	return t && t->common_metadata ? t->common_metadata->version : 0;
}

int manager_get_status(Manager *m, Status *ret)
{
	_cleanup_free_ uint8_t *manifest = NULL;
	SwuPending p = {};
	size_t size = 0;
	int r;

	*ret = (Status){ .booted_slot = m->booted };
	r = swu_state_load_manifest(m->ctx, m->config->state_dir, &manifest, &size);
	if (r < 0 && r != -ENOENT)
		return log_error_errno(r, "Cannot read the installed manifest");
	ret->installed_version = manager_manifest_version(m->ctx, manifest, size);
	r = load_pending(m, &p);
	if (r == 0) {
		ret->state = state_of(m, &p);
		if (ret->state != UPDATE_IDLE) {
			ret->pending_slot = p.slot;
			ret->pending_version = p.version;
		}
		swu_pending_done(&p);
	}
	return 0;
}

/* The root to trust now: factory root (on dm-verity when required) plus the rotated chain. */
static void warn_root(void *userdata, const char *message)
{
	log_warning("%s", message);
}

static int trusted_root(Manager *m, uint8_t **ret, size_t *ret_size)
{
	const Config *c = m->config;
	_cleanup_free_ uint8_t *factory = NULL;
	size_t size;
	int r;

	if (c->require_verity) {
		r = swu_verity_check(m->ctx, c->root_metadata, "/sys", swu_dm_target_type, NULL);
		if (r < 0)
			return log_error_errno(r, "Refusing to trust '%s' (RequireVerity=yes)",
					       c->root_metadata);
	}
	r = swu_read_file(c->root_metadata, swu_context_get_metadata_max(m->ctx), &factory, &size);
	if (r < 0)
		return log_error_errno(r, "Cannot read the root metadata '%s'", c->root_metadata);
	return swu_state_trusted_root(m->ctx, c->state_dir, factory, size, warn_root, NULL, ret,
				      ret_size);
}

void slots_done(Slots *s)
{
	for (size_t i = 0; i < s->n; i++) {
		safe_close(s->targets[i].fd);
		safe_close(s->targets[i].active_fd);
	}
	free(s->targets);
}

/* Opens the inactive slot of every verified target (and its active slot to copy from). */
int manager_open_slots(Manager *m, SwuVerifier *v, Slots *ret)
{
	const SwuTarget *list;
	size_t n = swu_verifier_get_targets(v, &list);
	struct stat root = {}, st;
	int r;

	(void)stat("/", &root);
	ret->targets = calloc(n + 1, sizeof(*ret->targets));
	if (!ret->targets)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const ConfigSlot *to =
			config_find_slot(m->config, list[i].name, other_slot(m->booted));
		const ConfigSlot *from = config_find_slot(m->config, list[i].name, m->booted);
		SwuInstallTarget *t = &ret->targets[ret->n];
		uint64_t active_size;

		*t = (SwuInstallTarget){ list[i].name, -EBADF, 0, -EBADF, false };
		if (!to || !from)
			return swu_fail(m->ctx, -ENXIO, "slot", "missing",
					"target '%s' has no slot on this device", list[i].name);
		ret->n++;
		r = swu_slot_open_inactive(m->ctx, to->device, from->device, root.st_dev, &t->fd,
					   &t->size);
		if (r < 0)
			return r;
		t->block_device = fstat(t->fd, &st) == 0 && S_ISBLK(st.st_mode);
		(void)swu_slot_open_active(m->ctx, from->device, &t->active_fd, &active_size);
	}
	return 0;
}

bool manager_root_is_trusted(Manager *m, const uint8_t *root, size_t size)
{
	_cleanup_free_ uint8_t *current = NULL;
	size_t n;

	if (trusted_root(m, &current, &n) < 0)
		return false;
	return n == size && memcmp(current, root, size) == 0;
}

int manager_verifier(Manager *m, const uint8_t *manifest, size_t manifest_size, SwuVerifier **ret)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_free_ uint8_t *root = NULL;
	size_t root_size;
	int r;

	r = trusted_root(m, &root, &root_size);
	if (r < 0)
		return r;
	r = swu_verifier_new(m->ctx, root, root_size, 0, &v);
	if (r >= 0 && manifest)
		r = swu_verifier_set_manifest(v, manifest, manifest_size);
	if (r >= 0)
		r = swu_verifier_set_compatible(v, m->config->compatible);
	if (r < 0)
		return log_error_errno(r, "Cannot set up verification");
	*ret = TAKE_PTR(v);
	return 0;
}

int manager_verify_metadata(Manager *m, SwuVerifier *v, SwuBundle *b, const char *source)
{
	const uint8_t *new_root;
	size_t new_root_size;
	int r;

	r = swu_bundle_verify_metadata(b, v);
	/* A rotated root that passed rule 2 is kept at once, even if the bundle fails later. */
	new_root = swu_verifier_get_new_root(v, &new_root_size);
	if (new_root && !manager_root_is_trusted(m, new_root, new_root_size)) {
		int k = swu_state_save_root(m->ctx, m->config->state_dir, new_root, new_root_size);

		if (k < 0)
			return log_error_errno(k, "Cannot persist the rotated root");
		log_info("Root metadata rotated and persisted");
		manager_history(m, "root-rotation", 0, 0, 0, "success", NULL);
	}
	if (r < 0)
		return log_error_errno(r, "Bundle '%s' rejected", source);
	return 0;
}

int manager_apply(Manager *m, SwuVerifier *v, uint32_t from_version)
{
	const Config *c = m->config;
	_cleanup_free_ uint8_t *manifest = NULL;
	SwuBootConfig boot = config_boot(c);
	SwuPending p;
	size_t size;
	int r;

	/* Every target is written and read back: record the pending install, then switch. */
	r = swu_verifier_build_manifest(v, &manifest, &size);
	if (r < 0)
		return log_error_errno(r, "Cannot build the manifest");
	p = (SwuPending){ other_slot(m->booted), m->booted,  "",       swu_verifier_get_version(v),
			  from_version,		 time(NULL), manifest, size };
	snprintf(p.boot_id, sizeof(p.boot_id), "%s", m->boot_id);
	r = swu_state_save_pending(m->ctx, c->state_dir, &p);
	if (r < 0)
		return log_error_errno(r, "Cannot record the pending install");
	swu_fault_point(m->ctx, "bootloader");
	r = swu_boot_try(m->ctx, &boot, p.slot, m->booted);
	if (r < 0) {
		(void)swu_state_clear_pending(m->ctx, c->state_dir);
		return log_error_errno(r, "Cannot switch the bootloader to slot %c", p.slot);
	}
	return 0;
}

static int install(Manager *m, const char *path, uint32_t *ret_version, uint32_t from_version,
		   const uint8_t *manifest, size_t manifest_size)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_close_ int fd = -EBADF;
	Slots slots = {};
	int r;

	r = manager_verifier(m, manifest, manifest_size, &v);
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = swu_fail(m->ctx, -errno, "bundle", "open", "cannot open bundle '%s': %s", path,
			     strerror(errno));
		return log_error_errno(r, "Cannot open bundle");
	}
	r = swu_bundle_open_fd(m->ctx, fd, &b);
	if (r < 0)
		return log_error_errno(r, "Bundle '%s' rejected", path);
	r = manager_verify_metadata(m, v, b, path);
	if (r < 0)
		return r;
	*ret_version = swu_verifier_get_version(v);

	r = manager_open_slots(m, v, &slots);
	if (r >= 0)
		r = swu_install_check(m->ctx, v, b, slots.targets, slots.n);
	if (r >= 0) {
		log_info("Installing version %u from '%s' into slot %c", *ret_version, path,
			 other_slot(m->booted));
		r = swu_install_bundle(m->ctx, b, v, slots.targets, slots.n);
	}
	slots_done(&slots);
	if (r < 0)
		return log_error_errno(r, "Installing '%s' failed", path);
	return manager_apply(m, v, from_version);
}

/* Refuses to install when the booted slot is unknown or an update awaits confirmation. */
int manager_may_install(Manager *m)
{
	Status s;
	int r;

	if (!m->booted) {
		r = swu_fail(m->ctx, -ENXIO, "slot", "booted", "%s", m->booted_error);
		return log_error_errno(r, "Refusing to install");
	}
	r = manager_get_status(m, &s);
	if (r < 0)
		return r;
	if (s.state == UPDATE_PENDING_CONFIRMATION) {
		r = swu_fail(m->ctx, -EBUSY, "update", "pending",
			     "slot %c runs an update that is not confirmed yet (mark-good or "
			     "mark-bad first)",
			     m->booted);
		return log_error_errno(r, "Refusing to install");
	}
	return 0;
}

int manager_install(Manager *m, const char *path)
{
	_cleanup_free_ uint8_t *manifest = NULL;
	size_t manifest_size = 0;
	uint32_t from = 0, version = 0;
	char to = m->booted ? other_slot(m->booted) : 0;
	int r;

	r = manager_reconcile(m);
	if (r < 0)
		return r;
	r = swu_state_load_manifest(m->ctx, m->config->state_dir, &manifest, &manifest_size);
	if (r < 0 && r != -ENOENT)
		return log_error_errno(r, "Cannot read the installed manifest");
	from = manager_manifest_version(m->ctx, manifest, manifest_size);

	r = manager_may_install(m);
	if (r >= 0) {
		swu_context_clear_failure(m->ctx);
		r = install(m, path, &version, from, manifest, manifest_size);
	}
	if (r < 0) {
		manager_history(m, "install", from, version, to, "failed",
				swu_context_get_failure(m->ctx)->message);
		return r;
	}
	manager_history(m, "install", from, version, to, "success", NULL);
	log_info("Installed version %u into slot %c; reboot to try it", version, to);
	return 0;
}

/* After reconciling: the pending install, -ENOENT when none, other errors logged. */
static int current_pending(Manager *m, SwuPending *ret)
{
	int r;

	r = manager_reconcile(m);
	if (r < 0)
		return r;
	r = load_pending(m, ret);
	if (r < 0 && r != -ENOENT)
		return log_error_errno(r, "Cannot read the pending install");
	return r;
}

int manager_mark_good(Manager *m)
{
	SwuBootConfig boot = config_boot(m->config);
	SwuPending p = {};
	int r;

	r = current_pending(m, &p);
	if (r == -ENOENT) {
		/* Health checks run this on every boot: it resets the boot counter of this slot. */
		if (!m->booted)
			return 0;
		swu_fault_point(m->ctx, "bootloader");
		r = swu_boot_mark_good(m->ctx, &boot, m->booted, other_slot(m->booted));
		if (r < 0)
			return log_error_errno(r, "Cannot mark slot %c good", m->booted);
		log_info("No update pending; slot %c marked good", m->booted);
		return 0;
	}
	if (r < 0)
		return r;
	if (state_of(m, &p) != UPDATE_PENDING_CONFIRMATION) {
		log_error("Nothing to confirm yet: slot %c is installed but not booted (reboot "
			  "first)",
			  p.slot);
		swu_pending_done(&p);
		return -EAGAIN;
	}
	/* Commit: the new manifest becomes the anti-rollback floor, then the bootloader. */
	r = swu_state_save_manifest(m->ctx, m->config->state_dir, p.manifest, p.manifest_size);
	if (r >= 0) {
		swu_fault_point(m->ctx, "bootloader");
		r = swu_boot_mark_good(m->ctx, &boot, p.slot, other_slot(p.slot));
	}
	if (r >= 0)
		r = swu_state_clear_pending(m->ctx, m->config->state_dir);
	if (r >= 0) {
		manager_history(m, "mark-good", p.from_version, p.version, p.slot, "success", NULL);
		log_info("Slot %c (version %u) marked good", p.slot, p.version);
	} else
		log_error_errno(r, "Cannot mark slot %c good", p.slot);
	swu_pending_done(&p);
	return r;
}

int manager_mark_bad(Manager *m)
{
	SwuBootConfig boot = config_boot(m->config);
	SwuPending p = {};
	int r;

	r = current_pending(m, &p);
	if (r == -ENOENT) {
		log_error("Nothing to reject: no update is pending");
		return -ENOENT;
	}
	if (r < 0)
		return r;
	swu_fault_point(m->ctx, "bootloader");
	r = swu_boot_mark_bad(m->ctx, &boot, p.slot, p.from_slot);
	if (r >= 0)
		r = swu_state_clear_pending(m->ctx, m->config->state_dir);
	if (r >= 0) {
		manager_history(m, "mark-bad", p.from_version, p.version, p.slot, "rejected", NULL);
		log_info("Slot %c (version %u) marked bad; slot %c boots next", p.slot, p.version,
			 p.from_slot);
	} else
		log_error_errno(r, "Cannot mark slot %c bad", p.slot);
	swu_pending_done(&p);
	return r;
}
