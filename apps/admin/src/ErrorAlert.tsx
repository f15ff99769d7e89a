import { ApiError, errorMessage, type ErrorDetail } from './api';

interface Props {
  message: string;
  details?: ErrorDetail[];
}

/** An error as a page shows it: the API's message and the fields it names. */
export interface ShownError {
  message: string;
  details: ErrorDetail[];
}

export function toShownError(error: unknown): ShownError {
  return { message: errorMessage(error), details: error instanceof ApiError ? error.details : [] };
}

/** The API's `message` in role="alert", with the offending fields listed below it. */
export function ErrorAlert({ message, details = [] }: Props) {
  return (
    <div className="error-box">
      <p role="alert">{message}</p>
      {details.length > 0 && (
        <ul className="error-details">
          {details.map((detail, index) => (
            <li key={`${detail.path}-${index}`}>
              {detail.path ? <code>{detail.path}</code> : null} {detail.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
