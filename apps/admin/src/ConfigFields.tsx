import { Fragment, type ReactNode } from 'react';
import type { ConfigField, ConfigValues, FieldValue, MapRow } from './configSchema';

interface Props {
  /** Prefix of the inputs' ids, unique on the page. */
  idPrefix: string;
  fields: readonly ConfigField[];
  values: ConfigValues;
  onChange: (name: string, value: FieldValue) => void;
  /** Editing a stored destination: a blank secret keeps the stored one. */
  editing: boolean;
  /** Names of the fields the API (or the form) found fault with. */
  invalid: ReadonlySet<string>;
}

function secretHint(field: ConfigField, editing: boolean): string {
  if (editing) return 'Leave it as it is to keep the current value.';
  if (field.name === 'secret') return 'Leave blank and Dispatch makes one, shown once.';
  return field.required ? 'Required.' : 'Optional.';
}

function listHint(field: ConfigField): string {
  return field.description ? `${field.description}. Comma separated.` : 'Comma separated.';
}

function placeholderOf(field: ConfigField): string | undefined {
  if (field.example !== undefined) return field.example;
  if (field.type === 'text' && field.format === 'email') return 'name@example.com';
  return undefined;
}

function inputTypeOf(field: ConfigField): string {
  if (field.type === 'text' && field.format === 'email') return 'email';
  return 'text';
}

/** One input per property of a kind's config schema. */
export function ConfigFields({ idPrefix, fields, values, onChange, editing, invalid }: Props) {
  return (
    <>
      {fields.map((field) => {
        const id = `${idPrefix}-${field.name}`;
        const hintId = `${id}-hint`;
        const value = values[field.name];
        const text = typeof value === 'string' ? value : '';
        const hint = field.type === 'secret' ? secretHint(field, editing) : field.type === 'json' ? 'JSON.' : field.type === 'list' ? listHint(field) : field.description;
        const ariaInvalid = invalid.has(field.name) ? true : undefined;
        const describedBy = hint ? hintId : undefined;
        const hintNode = hint ? (
          <p id={hintId} className="hint">
            {hint}
          </p>
        ) : null;

        switch (field.type) {
          case 'map':
            return (
              <KeyValueEditor
                key={field.name}
                id={id}
                label={field.label}
                rows={Array.isArray(value) ? value : []}
                onChange={(rows) => onChange(field.name, rows)}
                invalid={ariaInvalid}
                hint={hintNode}
                describedBy={describedBy}
              />
            );
          case 'boolean':
            return (
              <div key={field.name} className="check">
                <input
                  id={id}
                  type="checkbox"
                  checked={value === true}
                  aria-invalid={ariaInvalid}
                  aria-describedby={describedBy}
                  onChange={(event) => onChange(field.name, event.target.checked)}
                />
                <label htmlFor={id}>{field.label}</label>
                {hintNode}
              </div>
            );
          case 'enum':
            return (
              <Fragment key={field.name}>
                <label htmlFor={id}>{field.label}</label>
                <select id={id} value={text} aria-invalid={ariaInvalid} aria-describedby={describedBy} onChange={(event) => onChange(field.name, event.target.value)}>
                  {(!field.required || text === '') && field.default === undefined && <option value="">—</option>}
                  {field.options.map((option) => (
                    <option key={option} value={option}>
                      {option}
                    </option>
                  ))}
                </select>
                {hintNode}
              </Fragment>
            );
          case 'json':
            return (
              <Fragment key={field.name}>
                <label htmlFor={id}>{field.label}</label>
                <textarea
                  id={id}
                  rows={3}
                  value={text}
                  aria-invalid={ariaInvalid}
                  aria-describedby={describedBy}
                  onChange={(event) => onChange(field.name, event.target.value)}
                />
                {hintNode}
              </Fragment>
            );
          default:
            return (
              <Fragment key={field.name}>
                <label htmlFor={id}>{field.label}</label>
                <input
                  id={id}
                  type={field.type === 'secret' ? 'password' : field.type === 'number' ? 'number' : inputTypeOf(field)}
                  inputMode={field.type === 'text' && (field.format === 'uri' || field.format === 'url') ? 'url' : undefined}
                  autoComplete={field.type === 'secret' ? 'new-password' : 'off'}
                  spellCheck={field.type === 'text' ? false : undefined}
                  placeholder={placeholderOf(field)}
                  min={field.type === 'number' ? field.min : undefined}
                  max={field.type === 'number' ? field.max : undefined}
                  step={field.type === 'number' ? (field.integer ? 1 : 'any') : undefined}
                  maxLength={field.type === 'text' ? field.maxLength : undefined}
                  aria-required={(field.required && !(editing && field.type === 'secret')) || undefined}
                  aria-invalid={ariaInvalid}
                  aria-describedby={describedBy}
                  value={text}
                  onChange={(event) => onChange(field.name, event.target.value)}
                />
                {hintNode}
              </Fragment>
            );
        }
      })}
    </>
  );
}

interface KeyValueProps {
  id: string;
  label: string;
  rows: MapRow[];
  onChange: (rows: MapRow[]) => void;
  invalid: true | undefined;
  hint: ReactNode;
  describedBy: string | undefined;
}

/** A map of string values (e.g. HTTP headers): one row per entry, added and removed at will. */
function KeyValueEditor({ id, label, rows, onChange, invalid, hint, describedBy }: KeyValueProps) {
  function update(index: number, change: Partial<MapRow>) {
    onChange(rows.map((row, at) => (at === index ? { ...row, ...change } : row)));
  }

  return (
    <fieldset id={id} className="key-values" aria-describedby={describedBy}>
      <legend>{label}</legend>
      {rows.length === 0 && <p className="hint">None.</p>}
      {rows.map((row, index) => (
        <div key={index} className="key-value-row">
          <input
            type="text"
            aria-label={`Key ${index + 1}`}
            placeholder="Key"
            autoComplete="off"
            spellCheck={false}
            aria-invalid={invalid}
            value={row.key}
            onChange={(event) => update(index, { key: event.target.value })}
          />
          <input
            type="text"
            aria-label={`Value ${index + 1}`}
            placeholder="Value"
            autoComplete="off"
            spellCheck={false}
            aria-invalid={invalid}
            value={row.value}
            onChange={(event) => update(index, { value: event.target.value })}
          />
          <button type="button" aria-label={`Remove row ${index + 1}`} onClick={() => onChange(rows.filter((_, at) => at !== index))}>
            Remove
          </button>
        </div>
      ))}
      <button type="button" className="add-row" onClick={() => onChange([...rows, { key: '', value: '' }])}>
        Add row
      </button>
      {hint}
    </fieldset>
  );
}
