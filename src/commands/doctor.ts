import {BaseCommand} from '../core/base-command.js';

export default class Doctor extends BaseCommand {
  static override description = 'Check which targets (qemu, virtualbox, aws) are usable on this host, and why not.';

  async run(): Promise<{ok: boolean}> {
    await this.parse(Doctor);
    return {ok: true};
  }
}
