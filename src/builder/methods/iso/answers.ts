import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {UsageError} from '../../../core/errors.js';
import {makeIsoImage} from '../../../core/iso-image.js';
import type {Step} from '../../../core/steps.js';
import {BuildHttpServer} from '../../http-server.js';
import {renderAnswerFiles, type RenderContext, type RenderedFile} from '../../render.js';
import {resolveTemplateFile} from '../../templates-dir.js';
import type {LoadedTemplate} from '../../template.js';
import {validateAnswerFiles} from '../../validate-answers.js';
import type {BuildState} from '../index.js';
import {VM_FILES, iso} from './state.js';

/** Renders a template's answer files for a given HTTP address and syntax-checks them. */
export async function renderTemplateAnswers(template: LoadedTemplate, http: {httpIp: string; httpPort: number | string}): Promise<RenderedFile[]> {
  const context: RenderContext = {...template.variables, ...http};
  const rendered: RenderedFile[] = [];
  for (const entry of template.definition.answer_files) {
    const [file] = await renderAnswerFiles(template.dir, [entry.template], context);
    rendered.push(entry.name ? {...file, name: entry.name} : file);
  }
  const problems = (await validateAnswerFiles(rendered)).filter((c) => !c.ok);
  if (problems.length > 0) {
    throw new UsageError('ERR_ANSWER_INVALID', `Answer files of template ${template.name} do not pass their syntax check:\n${problems.map((p) => `${p.file} (${p.checker}):\n  ${p.problems.join('\n  ')}`).join('\n')}`, {
      hint: `Fix the files in ${template.dir}; \`box build ${template.name} --dry-run\` shows the rendered text.`,
    });
  }
  return rendered;
}

/**
 * Step: starts the build HTTP server first (the answer files may need its port), then renders
 * and checks the answer files and serves them with the template's http_files. For
 * `answer_media: cdrom` (Windows reads Autounattend.xml from removable media) the rendered
 * files also go on a small ISO attached as a second CD.
 */
export const httpServerStep: Step<BuildState> = {
  name: 'render-answers',
  async run(state) {
    const t = state.template.definition;
    const d = iso(state);
    const files = new Map<string, string | Buffer>();
    const server = new BuildHttpServer({
      files,
      onRequest: (e) => state.ui.info(`http: ${e.method} ${e.path} ${e.status} ${e.bytes} B from ${e.remote}`),
    });
    d.server = server;
    const port = await server.start();
    d.rendered = await renderTemplateAnswers(state.template, {httpIp: d.httpIp, httpPort: port});
    for (const f of d.rendered) files.set(f.name, f.content);
    for (const h of t.http_files) {
      files.set(h.name ?? path.basename(h.path), await readFile(resolveTemplateFile(state.template.dir, h.path)));
    }
    state.ui.info(`answer files served at http://${d.httpIp}:${port}/ (${[...files.keys()].join(', ') || 'none'})`);
    if (t.answer_media === 'cdrom') d.answerCd = await makeAnswerCd(d.rendered, path.join(state.workDir, VM_FILES.answerCd), t.answer_cd_label);
  },
  async cleanup(state) {
    const d = iso(state);
    await d.server?.stop();
  },
};

export async function makeAnswerCd(files: readonly RenderedFile[], out: string, label: string): Promise<string> {
  return makeIsoImage(files, out, label, 'ERR_ANSWER_CD');
}
