import { useEffect, useState } from 'react';

/** The current path; every view has its own URL (deep links), and Back works. */
export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const onPop = () => setPath(location.pathname);
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  return path;
}

export function navigate(to: string): void {
  history.pushState(null, '', to);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** The current path and query (a view whose selectors live in the query re-renders when only they change). */
export function useLocation(): { path: string; search: URLSearchParams } {
  const [href, setHref] = useState(location.pathname + location.search);
  useEffect(() => {
    const onPop = () => setHref(location.pathname + location.search);
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  const q = href.indexOf('?');
  return { path: q < 0 ? href : href.slice(0, q), search: new URLSearchParams(q < 0 ? '' : href.slice(q)) };
}

/** A link that navigates in the page (Back works) and still opens in a new tab. */
export function linkProps(to: string): { href: string; onClick: (e: { preventDefault(): void; button: number; metaKey: boolean; ctrlKey: boolean }) => void } {
  return {
    href: to,
    onClick: (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey) return;
      e.preventDefault();
      navigate(to);
    },
  };
}
