import { useState, type ReactNode } from 'react';
import { Refusal } from './api.js';
import { navigate } from './navigation.js';

/** Small pieces the admin pages share. */

/** An in-app link: a real href (deep link, middle click) that navigates without a reload. */
export function Link({ to, children, testId }: { to: string; children: ReactNode; testId?: string }) {
  return (
    <a
      href={to}
      data-testid={testId}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

/** A button that copies text, and says so. */
export function CopyButton({ text, testId }: { text: string; testId?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      data-testid={testId}
      onClick={() => {
        void navigator.clipboard.writeText(text).then(
          () => setCopied(true),
          () => setCopied(false),
        );
      }}
    >
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}

/** A refusal's sentence, or the error's text. */
export function errorMessage(err: unknown): string {
  return err instanceof Refusal ? err.message : String(err);
}

/** An admin call's refusal, where its result would be. */
export function AdminError({ error }: { error: string | undefined }) {
  return error ? (
    <p className="refusal" role="alert" data-testid="admin-error">
      {error}
    </p>
  ) : null;
}

/** A destructive action in two steps: the button, then a confirm (disabled until `ready`) and a cancel. */
export function Confirm({ open, onOpen, onCancel, onConfirm, ready = true, label, confirmLabel, children }: {
  open: boolean;
  onOpen: () => void;
  onCancel: () => void;
  onConfirm: () => void;
  ready?: boolean;
  label: string;
  confirmLabel: string;
  children?: ReactNode;
}) {
  if (!open) {
    return (
      <button type="button" onClick={onOpen}>
        {label}
      </button>
    );
  }
  return (
    <span className="confirm">
      {children}
      <button type="button" className="danger" disabled={!ready} onClick={onConfirm}>
        {confirmLabel}
      </button>
      <button type="button" onClick={onCancel}>
        Cancel
      </button>
    </span>
  );
}
