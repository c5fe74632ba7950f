// A target that exists only in test code, registered on import with `module` set to this file:
// the Boxfile worker thread (Boxfiles over 64 KiB) imports it too. Its alias `wb` forces a
// setting, as kvm forces accel: kvm on qemu.
import {z} from 'zod';
import type {Provider} from '../../src/providers/provider.js';
import {registerTarget} from '../../src/providers/registry.js';

export const workbenchSettings = z.object({
  lanes: z.number().int().min(1).max(8).optional().describe('Lanes of the workbench.'),
  mode: z.enum(['fast', 'careful']).optional(),
}).strict();

registerTarget({
  name: 'workbench',
  aliases: ['bench2', {name: 'wb', means: 'workbench in careful mode', note: 'the careful workbench', settings: {mode: 'careful'},
    contradictions: {values: {mode: ['fast']}, hint: 'drop it, or use target: workbench'}}],
  settingsSchema: workbenchSettings,
  boxfile: {
    defaults: {lanes: 1},
    starter: (written) => [`lanes: ${written === 'wb' ? 2 : 1}`],
    resolve: (settings, context) => ({lanes: settings.lanes, mode: settings.mode ?? 'fast', forcedBy: context.forcedBy}),
  },
  module: import.meta.url,
  vagrantProvider: 'workbench',
  features: {linkedClones: false, snapshots: false, privateNetwork: false, suspend: false},
  // What up would refuse before creating anything: lane 7 is broken on every workbench.
  async checkSettings(project) {
    const broken = project.machines.filter((m) => m.target === 'workbench' && (m as {workbench?: {lanes?: number}}).workbench?.lanes === 7);
    if (broken.length > 0) throw new Error(`lane 7 is broken: ${broken.map((m) => m.name).join(', ')}`);
  },
  async doctor() {
    return {target: 'workbench', usable: true, summary: 'in test code', checks: []};
  },
  async createProvider() {
    return {name: 'workbench'} as Provider;
  },
});
