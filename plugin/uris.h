/* The URIs continuo.lv2 speaks, mapped once in instantiate(). */
#ifndef CONTINUO_LV2_URIS_H
#define CONTINUO_LV2_URIS_H

#include <lv2/atom/atom.h>
#include <lv2/midi/midi.h>
#include <lv2/patch/patch.h>
#include <lv2/time/time.h>
#include <lv2/urid/urid.h>

#define CONTINUO_URI "urn:continuo:generator"
#define CONTINUO_MODEL CONTINUO_URI "#model"

typedef struct {
    LV2_URID atom_Path, atom_Float, atom_Double, atom_Int, atom_Long, atom_URID, atom_Object,
        atom_Blank, atom_Sequence, midi_Event, time_Position, time_beatsPerMinute, time_barBeat,
        time_speed, patch_Set, patch_Get, patch_property, patch_value, model;
} Uris;

static inline void map_uris(LV2_URID_Map *map, Uris *u)
{
    u->atom_Path = map->map(map->handle, LV2_ATOM__Path);
    u->atom_Float = map->map(map->handle, LV2_ATOM__Float);
    u->atom_Double = map->map(map->handle, LV2_ATOM__Double);
    u->atom_Int = map->map(map->handle, LV2_ATOM__Int);
    u->atom_Long = map->map(map->handle, LV2_ATOM__Long);
    u->atom_URID = map->map(map->handle, LV2_ATOM__URID);
    u->atom_Object = map->map(map->handle, LV2_ATOM__Object);
    u->atom_Blank = map->map(map->handle, LV2_ATOM__Blank);
    u->atom_Sequence = map->map(map->handle, LV2_ATOM__Sequence);
    u->midi_Event = map->map(map->handle, LV2_MIDI__MidiEvent);
    u->time_Position = map->map(map->handle, LV2_TIME__Position);
    u->time_beatsPerMinute = map->map(map->handle, LV2_TIME__beatsPerMinute);
    u->time_barBeat = map->map(map->handle, LV2_TIME__barBeat);
    u->time_speed = map->map(map->handle, LV2_TIME__speed);
    u->patch_Set = map->map(map->handle, LV2_PATCH__Set);
    u->patch_Get = map->map(map->handle, LV2_PATCH__Get);
    u->patch_property = map->map(map->handle, LV2_PATCH__property);
    u->patch_value = map->map(map->handle, LV2_PATCH__value);
    u->model = map->map(map->handle, CONTINUO_MODEL);
}

#endif
