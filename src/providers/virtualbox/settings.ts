// The Boxfile side of the virtualbox target: its `targets.virtualbox` settings, defaults and
// the typed config the provider reads. Imported by the descriptor: zod and boxfile/ only.
import {z} from 'zod';
import {memorySchema, type BoxfileTargetPlugin} from '../../boxfile/schema.js';
import {memoryMiB} from '../../boxfile/sizes.js';

export const virtualboxSettingsSchema = z.object({
  cpus: z.number().int().min(1).max(256).optional().describe('Virtual CPUs (default 2).'),
  memory: memorySchema.optional(),
  linked_clone: z.boolean().optional().describe('Clone the basebox as a linked clone (default true: fast, small).'),
  gui: z.boolean().optional().describe('Show the VirtualBox window (default false: headless).'),
}).strict();

export interface VirtualboxConfig {
  cpus: number;
  memoryMiB: number;
  linkedClone: boolean;
  gui: boolean;
}

declare module '../../boxfile/project.js' {
  interface TargetConfigs {
    virtualbox: VirtualboxConfig;
  }
}

export const virtualboxBoxfileTarget: BoxfileTargetPlugin = {
  name: 'virtualbox',
  settings: virtualboxSettingsSchema,
  defaults: {cpus: 2, memory: 1024, linked_clone: true, gui: false},
  forwardsHostPorts: true,
  starter: () => ['cpus: 2', 'memory: 1024', 'linked_clone: true'],
  resolve(settings): VirtualboxConfig {
    const v = settings as z.output<typeof virtualboxSettingsSchema>;
    return {cpus: v.cpus ?? 2, memoryMiB: memoryMiB(v.memory ?? 1024), linkedClone: v.linked_clone ?? true, gui: v.gui ?? false};
  },
};
