import { render, screen } from '@testing-library/react';
import { App } from './App';

describe('App', () => {
  it('renders the guest sign-in page', async () => {
    process.env = {
      NODE_ENV: 'test',
      APP_CONFIG: [
        {
          data: {
            app: { title: 'Test' },
            backend: { baseUrl: 'http://localhost:7007' },
          },
          context: 'test',
        },
      ] as any,
    };

    render(<App />);

    // Guest sign-in: the user presses "Enter" (no automatic sign-in).
    expect(
      await screen.findByRole('button', { name: 'Enter' }),
    ).toBeInTheDocument();
    expect(
      screen.getByText('nerdy-k8s-volume-manager demo'),
    ).toBeInTheDocument();
  });
});
