import {summarizeTemplates, templateFamilies, type TemplateSummary} from '../builder/template-families.js';

export interface ListedTemplate extends TemplateSummary {
  /** Family names that stand for this template (`box build centos`): it is the newest of each. */
  aliases: string[];
}

/** Every template visible to `box build`: --template-dir ones first, then the built-ins; with their family aliases. */
export async function listTemplateSummaries(templateDirs: readonly string[] = []): Promise<ListedTemplate[]> {
  const templates = await summarizeTemplates(templateDirs);
  const families = [...templateFamilies(templates).values()];
  return templates.map((t) => ({...t, aliases: families.filter((f) => f.template === t.name).map((f) => f.family)}));
}
