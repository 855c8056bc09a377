/* aws.h: a converted disk for Amazon's VM Import, offline (docs/cloud.md):
 * each requirement ferry can judge from the conversion's report (format,
 * boot, size, root on the one disk, file system, kernel, drivers, network,
 * a way in), what only the cloud can judge, and the files to import it
 * with: containers.json (import-image), snapshot.json (import-snapshot)
 * and import.sh (the exact aws commands). Pure but for aws_write. */
#ifndef FERRY_AWS_H
#define FERRY_AWS_H

#include <jansson.h>
#include <stdbool.h>
#include "util/util.h"

/* True if VM Import takes this output format (raw, vmdk, vhd). */
bool aws_format_ok(const char *format);
/* "s3://BUCKET[/PREFIX/]": bucket (S3's rules: 3..63 of a-z 0-9 . -) and
 * prefix (letters, digits, / . _ -, ending in / when not empty); -EINVAL
 * with err otherwise. */
int aws_parse_s3(const char *url, char bucket[64], char prefix[256], struct ferr *err);
/* [{"requirement", "status": "ok"|"warning"|"blocking"|"cloud", "detail"}]
 * from pv2hvm's report. */
json_t *aws_checks(const json_t *report);
/* Writes dir (new; made whole, then renamed into place) with the three
 * files for the disk at out (its absolute path); bucket NULL: a placeholder
 * the script refuses to run with. 0, or -errno with err. */
int aws_write(const char *dir, const char *out, const json_t *report, const json_t *checks, const char *bucket,
	      const char *prefix, struct ferr *err);

#endif
