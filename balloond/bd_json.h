/* SPDX-License-Identifier: MIT */
/* bd_json.h - typed lookups in json-c objects, shared by QMP and state. */
#ifndef BD_JSON_H
#define BD_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

/* @o[@key] as an integer >= 0.  False (nothing stored) otherwise. */
static inline bool bd_json_u64(struct json_object *o, const char *key,
                               uint64_t *out)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0)
		return false;
	*out = json_object_get_uint64(v);
	return true;
}

/* @o[@key] as a string, or NULL. */
static inline const char *bd_json_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

#endif
